import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// Runs the example tests (`npx vitest run --root examples`). The repository resolves the
// packages to their sources through the "source" export condition; an app using the published
// packages needs no such setting.
export default defineConfig({
  resolve: { conditions: ["source", ...defaultServerConditions] },
  ssr: { resolve: { conditions: ["source", ...defaultServerConditions] } },
  // Vite's cache stays in the repository's node_modules, not in a new examples/node_modules.
  cacheDir: "../node_modules/.vite/examples",
  test: { include: ["*.test.ts"] }
})
