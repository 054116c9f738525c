import { defaultServerConditions, type UserConfig } from "vite"

/** Settings every package's vitest config shares: sources resolved through the "source" export condition. */
export const shared: UserConfig = {
  resolve: { conditions: ["source", ...defaultServerConditions] },
  ssr: { resolve: { conditions: ["source", ...defaultServerConditions] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
}
