export default ["packages/*/vitest.config.ts", "demo/vitest.config.ts"]
