#!/usr/bin/env node
// The consumer test: what a user gets from npm, checked the way a user would use it.
//
//   0. check that every `npm install` line of the READMEs gives each third-party package a range,
//      and the Effect packages exactly the peer ranges of our package.json files,
//   1. build the four packages from a clean slate (tsc -b tsconfig.build.json),
//   2. `npm pack` them and check what the tarballs hold,
//   3. run the root README's install line (between <!-- install:begin --> and <!-- install:end -->)
//      as written in a fresh project outside the repository: the @tink-effect/* names become the
//      tarballs (which the registry does not have), the third-party packages and their ranges stay
//      exactly as written and are resolved by the npm registry (--prefer-online: current metadata,
//      tarballs from npm's cache when it holds them), never from this repository's node_modules,
//   4. type-check there, with the installed TypeScript, the README quick start
//      (examples/quickstart.ts), the examples of the four package READMEs, a sandbox server, and
//      the exports map (internals not importable), plus the published .d.ts files themselves,
//   5. start the installed `tink-sandbox` command, seed it over HTTP, run the compiled quick start
//      with plain node against it, and expect exit code 0 and "0 credential(s)"; serve the sandbox
//      with the SandboxServer module too,
//   6. install platform-node alone (with only what it depends on among ours) into another fresh
//      project: `npm ls --omit=dev` must list no sandbox, the package must load without it, and
//      `NodeTink.layerSandbox` (which loads the sandbox, an optional peer) must say what to install.
//
// Temporary directories are removed at the end, also on failure; `--keep` keeps them.
// Usage: node scripts/consumer-test.mjs [--keep] [--no-clean]

import { execFile, spawn } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = resolve(fileURLToPath(new URL("..", import.meta.url)))
const packages = ["core", "users", "sandbox", "platform-node"]
const peers = ["effect", "@effect/platform", "@effect/platform-node"]
// The sandbox README's example is a vitest test.
const tools = ["typescript", "@types/node", "vitest", "@effect/vitest"]
const keep = process.argv.includes("--keep")
const clean = !process.argv.includes("--no-clean")

const work = mkdtempSync(join(tmpdir(), "tink-effect-consumer-"))
const tarballs = join(work, "tarballs")
const app = join(work, "app")
const children = new Set()

const cleanup = () => {
  for (const child of children) child.kill("SIGKILL")
  if (keep) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    cleanup()
    process.exit(130)
  })
}

const started = Date.now()
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`

/** The environment without anything that would point npm at this repository or a tool at real Tink. */
const baseEnv = () => {
  const env = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (
      /^(TINK_|npm_package_|npm_lifecycle_|npm_config_(local_prefix|workspaces?|include_workspace_root)$|INIT_CWD$)/
        .test(name)
    ) {
      continue
    }
    env[name] = value
  }
  return env
}

const run = async (file, args, options = {}) => {
  try {
    return await promisify(execFile)(file, args, { env: baseEnv(), maxBuffer: 64 * 1024 * 1024, ...options })
  } catch (error) {
    throw new Error(`${[file, ...args].join(" ")} failed (${error.code})\n${error.stdout ?? ""}${error.stderr ?? ""}`)
  }
}
const npm = (args, cwd) => run("npm", args, { cwd, shell: process.platform === "win32" })

const step = async (name, body) => {
  const since = Date.now()
  process.stdout.write(`- ${name} ... `)
  const detail = await body()
  console.log(`ok (${seconds(since)})${detail ? `: ${detail}` : ""}`)
}

const versionIn = (dir, name) =>
  JSON.parse(readFileSync(join(dir, "node_modules", name, "package.json"), "utf8")).version

const fail = (message) => {
  throw new Error(message)
}

/** `name@range` or `@scope/name@range`; the range is undefined when the spec has none. */
const parseSpec = (spec) => {
  const at = spec.indexOf("@", 1)
  return at < 0 ? { name: spec, range: undefined } : { name: spec.slice(0, at), range: spec.slice(at + 1) }
}

/** The peer ranges the packages declare, one per peer: packages that disagree are a bug of their own. */
const peerRanges = () => {
  const ranges = {}
  for (const name of packages) {
    const manifest = JSON.parse(readFileSync(join(root, "packages", name, "package.json"), "utf8"))
    for (const [peer, range] of Object.entries(manifest.peerDependencies ?? {})) {
      if (ranges[peer] !== undefined && ranges[peer] !== range) {
        fail(`the packages disagree on the range of ${peer}: ${ranges[peer]} and ${range}`)
      }
      ranges[peer] = range
    }
  }
  return ranges
}

/** The one-line `npm install` command of README.md's install block, checked to be plain words. */
const readmeInstallLine = () => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const match = /<!-- install:begin -->\n```sh\n(.*)\n```\n<!-- install:end -->/.exec(readme)
  if (match === null) fail("README.md has no ```sh block between <!-- install:begin --> and <!-- install:end -->")
  const line = match[1].trim()
  // Run without a shell, so anything a shell would interpret is refused rather than misread.
  if (!/^npm (install|i)( [\w@./^~*:+-]+)+$/.test(line)) fail(`README install line is not a plain npm install: ${line}`)
  return line
}

/** Waits for the first stdout line of a child, e.g. the URL a server listens on. */
const firstLine = (child, timeoutMs) =>
  new Promise((resolveLine, reject) => {
    let buffer = ""
    let errors = ""
    const timer = setTimeout(() => reject(new Error(`no output within ${timeoutMs} ms\n${errors}`)), timeoutMs)
    child.stderr.on("data", (chunk) => (errors += chunk))
    child.stdout.on("data", (chunk) => {
      buffer += chunk
      const end = buffer.indexOf("\n")
      if (end >= 0) {
        clearTimeout(timer)
        resolveLine(buffer.slice(0, end).trim())
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`exited (${code}) before printing anything\n${errors}`))
    })
  })

const sandboxServerSource = `\
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Console, Effect } from "effect"

// Serves the sandbox on a free port of 127.0.0.1, prints its URL, and runs until stopped.
const program = Effect.gen(function*() {
  const server = yield* SandboxServer.SandboxServer
  yield* Console.log(server.url)
  return yield* Effect.never
})

program.pipe(Effect.provide(SandboxServer.layer()), NodeRuntime.runMain)
`

// Compiled with the rest; a @ts-expect-error that is not needed (a path that resolves) fails the check.
const exportsSource = `\
import { TinkClient } from "@tink-effect/core"
import * as TinkClientModule from "@tink-effect/core/TinkClient"
import { Users } from "@tink-effect/users"
import * as UsersModule from "@tink-effect/users/Users"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import { NodeTink, RedisResponseStore } from "@tink-effect/platform-node"
import * as NodeTinkModule from "@tink-effect/platform-node/NodeTink"
import * as RedisResponseStoreModule from "@tink-effect/platform-node/RedisResponseStore"

// @ts-expect-error internal modules are not exported
import type * as _Pipeline from "@tink-effect/core/internal/pipeline"
// @ts-expect-error internal modules are not exported
import type * as _SandboxInternal from "@tink-effect/sandbox/internal/sandbox"
// @ts-expect-error internal modules are not exported
import type * as _RedisStore from "@tink-effect/platform-node/internal/redisStore"
// @ts-expect-error the build output is reached through the exports map only
import type * as _Dist from "@tink-effect/core/dist/index.js"
// @ts-expect-error the tink-sandbox command is not a module to import
import type * as _Bin from "@tink-effect/sandbox/bin"
// @ts-expect-error the sandbox server lives in the sandbox package, never in platform-node
import type * as _NodeSandboxServer from "@tink-effect/platform-node/SandboxServer"
// @ts-expect-error the npm start lifecycle is a private demo, not part of platform-node
import type * as _Lifecycle from "@tink-effect/platform-node/Lifecycle"
// @ts-expect-error the cache module is core's; platform-node only adds the Redis store
import type * as _NodeResponseCache from "@tink-effect/platform-node/ResponseCache"

export const modules = [
  TinkClient,
  TinkClientModule,
  Users,
  UsersModule,
  Sandbox,
  SandboxServer,
  SandboxClient,
  NodeTink,
  NodeTinkModule,
  RedisResponseStore,
  RedisResponseStoreModule
]
`

// Run with plain node: what resolves, and what must not.
const exportsCheckSource = `\
import assert from "node:assert/strict"

for (const name of ["core", "users", "sandbox", "platform-node"]) {
  const resolved = import.meta.resolve("@tink-effect/" + name)
  assert.match(resolved, /\\/node_modules\\/@tink-effect\\/[a-z-]+\\/dist\\/index\\.js$/, resolved)
  await import("@tink-effect/" + name)
}
assert.strictEqual(typeof (await import("@tink-effect/sandbox/SandboxServer")).layer, "function")
assert.strictEqual(typeof (await import("@tink-effect/sandbox/SandboxClient")).layer, "function")
assert.strictEqual(
  (await import("@tink-effect/core/TinkClient")).layer,
  (await import("@tink-effect/core")).TinkClient.layer,
  "a module subpath and the index give the same module"
)
for (const path of [
  "@tink-effect/core/internal/pipeline",
  "@tink-effect/sandbox/internal/sandbox",
  "@tink-effect/platform-node/internal/redisStore",
  "@tink-effect/sandbox/bin",
  "@tink-effect/platform-node/SandboxServer",
  "@tink-effect/platform-node/Lifecycle",
  "@tink-effect/platform-node/ResponseCache",
  "@tink-effect/core/dist/internal/pipeline.js"
]) {
  await assert.rejects(import(path), (error) => {
    assert.ok(["ERR_PACKAGE_PATH_NOT_EXPORTED", "ERR_MODULE_NOT_FOUND"].includes(error.code), path + ": " + error.code)
    return true
  }, path)
}
console.log("exports ok")
`

// Run with plain node where the sandbox is not installed.
const layerSandboxWithoutSandboxSource = `\
import { NodeTink } from "@tink-effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"

const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(NodeTink.layerSandbox())))
const text = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "built"
if (!text.includes("npm install --save-dev @tink-effect/sandbox")) {
  console.error("NodeTink.layerSandbox without the sandbox: " + text)
  process.exit(1)
}
`

try {
  console.log(`consumer test in ${work}`)

  await step("README install lines: the Effect packages with our peer ranges", async () => {
    const ranges = peerRanges()
    const readmes = ["README.md", ...packages.map((name) => `packages/${name}/README.md`)]
    const lines = readmes.flatMap((file) =>
      [...readFileSync(join(root, file), "utf8").matchAll(/^npm (?:install|i)\b.*$/gm)].map((m) => ({
        file,
        line: m[0]
      }))
    )
    if (lines.length === 0) fail("no `npm install` line in the READMEs")
    for (const { file, line } of lines) {
      for (const token of line.split(/\s+/).slice(2).filter((token) => !token.startsWith("-"))) {
        const { name, range } = parseSpec(token)
        if (name.startsWith("@tink-effect/")) continue
        // A bare name installs the registry's latest, which for effect is now a major we do not support.
        if (range === undefined) fail(`${file}: \`${line}\` installs ${name} without a version range`)
        if (ranges[name] !== undefined && ranges[name] !== range) {
          fail(`${file}: \`${line}\` installs ${name}@${range}, the packages' peer range is ${ranges[name]}`)
        }
      }
    }
    return `${lines.length} line(s); ${Object.entries(ranges).map(([name, range]) => `${name}@${range}`).join(" ")}`
  })

  await step(clean ? "clean build (tsc -b tsconfig.build.json)" : "build (tsc -b tsconfig.build.json)", async () => {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
    if (clean) {
      await run(process.execPath, [tsc, "-b", "tsconfig.build.json", "--clean"], { cwd: root })
      // --clean removes only the outputs of today's sources; a deleted module's would still ship.
      for (const name of packages) rmSync(join(root, "packages", name, "dist"), { recursive: true, force: true })
    }
    await run(process.execPath, [tsc, "-b", "tsconfig.build.json"], { cwd: root })
    for (const name of packages) {
      for (const file of ["index.js", "index.d.ts"]) {
        if (!existsSync(join(root, "packages", name, "dist", file))) fail(`packages/${name}/dist/${file} missing`)
      }
    }
  })

  const packed = []
  await step("npm pack", async () => {
    mkdirSync(tarballs)
    const { stdout } = await npm(
      ["pack", "--json", "--pack-destination", tarballs, ...packages.map((name) => `--workspace=packages/${name}`)],
      root
    )
    for (const entry of JSON.parse(stdout)) {
      const files = entry.files.map((file) => file.path)
      const must = ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "src/index.ts"]
      for (const file of must) if (!files.includes(file)) fail(`${entry.name}: ${file} is not in the tarball`)
      const stray = files.filter((file) =>
        !/^(package\.json|README\.md|LICENSE|(dist|src)\/.+)$/.test(file) || /\.(test\.ts|tsbuildinfo)$/.test(file)
      )
      if (stray.length > 0) fail(`${entry.name}: unexpected files in the tarball: ${stray.join(", ")}`)
      // `tsc -b --clean` leaves the outputs of deleted sources behind: they would ship as modules.
      const orphans = files.filter((file) => /^dist\/.+\.js$/.test(file))
        .filter((file) => !files.includes(file.replace(/^dist\//, "src/").replace(/\.js$/, ".ts")))
      if (orphans.length > 0) fail(`${entry.name}: build output without a source: ${orphans.join(", ")}`)
      if (entry.name === "@tink-effect/sandbox" && !files.includes("dist/bin.js")) {
        fail(`${entry.name}: dist/bin.js (the tink-sandbox command) is not in the tarball`)
      }
      packed.push({ name: entry.name, file: entry.filename, size: entry.size, count: files.length })
    }
    if (packed.length !== packages.length) fail(`packed ${packed.length} packages, expected ${packages.length}`)
    return packed.map((p) => `${p.file} (${p.count} files, ${(p.size / 1024).toFixed(0)} kB)`).join(", ")
  })

  await step("npm install into a fresh project, with the README's install line", async () => {
    mkdirSync(join(app, "src"), { recursive: true })
    // The test's own tools, at the versions this repository uses; everything else comes from the line.
    const devDependencies = Object.fromEntries(tools.map((name) => [name, versionIn(root, name)]))
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({ name: "tink-effect-consumer", private: true, type: "module", devDependencies }, null, 2)
    )
    const line = readmeInstallLine()
    const [, command, ...specs] = line.split(/\s+/)
    const tarballOf = (name) => packed.find((p) => p.name === name)
    const named = new Set()
    const args = specs.map((spec) => {
      if (!spec.startsWith("@tink-effect/")) return spec
      const tarball = tarballOf(spec) ?? fail(`README install line: ${spec} is not one of the packed packages`)
      named.add(spec)
      return join(tarballs, tarball.file)
    })
    // The line must name the peers of what it installs: the application owns the one Effect runtime.
    for (const name of named) {
      const manifest = JSON.parse(
        readFileSync(join(root, "packages", name.slice("@tink-effect/".length), "package.json"), "utf8")
      )
      for (const peer of Object.keys(manifest.peerDependencies ?? {})) {
        if (manifest.peerDependenciesMeta?.[peer]?.optional === true) continue
        if (!specs.some((spec) => parseSpec(spec).name === peer)) {
          fail(`README install line: ${peer} (a peer of ${name}) is missing`)
        }
      }
    }
    // What the named packages depend on among ours is not on the registry: the tarballs stand in.
    const rest = packed.filter((p) => !named.has(p.name)).map((p) => join(tarballs, p.file))
    await npm([command, "--no-audit", "--no-fund", "--prefer-online", ...args, ...rest], app)
    // Peer dependencies: one copy of the Effect runtime, the application's.
    for (const p of packed) {
      for (const peer of peers) {
        if (existsSync(join(app, "node_modules", p.name, "node_modules", peer))) {
          fail(`${p.name} installed its own ${peer}`)
        }
      }
    }
    return `\`${line}\`: ${[...peers, ...tools].map((name) => `${name}@${versionIn(app, name)}`).join(", ")}`
  })

  await step("type-check the quick start and the package READMEs (strict, NodeNext)", async () => {
    cpSync(join(root, "examples", "quickstart.ts"), join(app, "src", "quickstart.ts"))
    for (const name of packages) {
      const readme = readFileSync(join(root, "packages", name, "README.md"), "utf8")
      const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1])
      if (blocks.length === 0) fail(`packages/${name}/README.md has no ts example`)
      blocks.forEach((code, i) => writeFileSync(join(app, "src", `readme-${name}-${i}.ts`), code))
    }
    writeFileSync(join(app, "src", "sandbox-server.ts"), sandboxServerSource)
    writeFileSync(join(app, "src", "exports.ts"), exportsSource)
    writeFileSync(join(app, "exports-check.mjs"), exportsCheckSource)
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify(
        {
          compilerOptions: {
            target: "ES2022",
            module: "NodeNext",
            moduleResolution: "NodeNext",
            strict: true,
            skipLibCheck: true,
            types: ["node"],
            rootDir: "src",
            outDir: "out"
          },
          include: ["src"]
        },
        null,
        2
      )
    )
    // One compile, which also checks the published declarations (--skipLibCheck false), so that
    // stripInternal cannot leave a dangling name behind. Errors in other libraries' declarations
    // are not ours to fix (skipLibCheck is what the app's tsconfig says); errors anywhere else are.
    const tsc = join(app, "node_modules", "typescript", "bin", "tsc")
    const output = await run(process.execPath, [tsc, "-p", "tsconfig.json", "--skipLibCheck", "false"], { cwd: app })
      .then(() => "", (error) => error.message)
    const diagnostics = output.split("\n").filter((line) => /^[^\s].*\(\d+,\d+\): error /.test(line))
    const ours = diagnostics.filter((line) =>
      !line.startsWith("node_modules/") || line.startsWith("node_modules/@tink-effect/")
    )
    if (ours.length > 0 || (output !== "" && diagnostics.length === 0)) fail(`the type-check failed:\n${output}`)
    if (!existsSync(join(app, "out", "quickstart.js"))) fail(`nothing was emitted:\n${output}`)
    return diagnostics.length === 0 ? "" : `${diagnostics.length} error(s) in other libraries' declarations ignored`
  })

  await step("exports map: dist resolves, internals do not", async () => {
    const { stdout } = await run(process.execPath, ["exports-check.mjs"], { cwd: app })
    if (!stdout.includes("exports ok")) fail(stdout)
  })

  /** Runs a server the test started until `body` is done, then stops it with SIGTERM. */
  const withServer = async (command, args, body) => {
    const server = spawn(command, args, { cwd: app, env: baseEnv(), stdio: ["ignore", "pipe", "pipe"] })
    children.add(server)
    try {
      return await body(await firstLine(server, 30_000))
    } finally {
      server.kill("SIGTERM")
      await new Promise((done) => (server.exitCode !== null ? done() : server.once("exit", done)))
      children.delete(server)
    }
  }

  await step("tink-sandbox from the installed tarball: seeded over HTTP, the quick start runs against it", async () => {
    // The command as npm installed it (its shebang and mode), not a node invocation of a file.
    const bin = join(app, "node_modules", ".bin", process.platform === "win32" ? "tink-sandbox.cmd" : "tink-sandbox")
    return withServer(bin, ["--port", "0"], async (line) => {
      const url = /^tink-sandbox listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1]
      if (url === undefined) fail(`tink-sandbox printed ${JSON.stringify(line)}`)
      const seeded = await fetch(`${url}/__sandbox/users`, { method: "POST", body: "{}" })
      if (seeded.status !== 201) fail(`POST /__sandbox/users answered ${seeded.status}: ${await seeded.text()}`)
      const { stdout, stderr } = await run(process.execPath, ["out/quickstart.js"], {
        cwd: app,
        env: {
          ...baseEnv(),
          TINK_CLIENT_ID: "sandbox-client",
          TINK_CLIENT_SECRET: "sandbox-secret",
          TINK_BASE_URL: url
        },
        timeout: 60_000
      })
      const output = stdout + stderr
      if (!output.includes("0 credential(s)")) fail(`the quick start did not print "0 credential(s)":\n${output}`)
      return output.trim().split("\n").at(-1)
    })
  })

  await step(
    "the SandboxServer module serves the sandbox, control endpoints included",
    async () =>
      withServer(process.execPath, ["out/sandbox-server.js"], async (url) => {
        if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) fail(`the sandbox server printed ${JSON.stringify(url)}`)
        const stats = await fetch(`${url}/__sandbox/stats`)
        if (stats.status !== 200) fail(`GET /__sandbox/stats answered ${stats.status}`)
      })
  )

  await step("platform-node alone: no sandbox in a production install", async () => {
    // What platform-node needs among ours, from the manifests: the registry has none of them.
    const manifestOf = (name) =>
      JSON.parse(readFileSync(join(root, "packages", name.slice("@tink-effect/".length), "package.json"), "utf8"))
    const ours = new Set()
    const visit = (name) => {
      if (ours.has(name)) return
      ours.add(name)
      for (const dependency of Object.keys(manifestOf(name).dependencies ?? {})) {
        if (dependency.startsWith("@tink-effect/")) visit(dependency)
      }
    }
    visit("@tink-effect/platform-node")
    const alone = join(work, "platform-node-alone")
    mkdirSync(alone)
    writeFileSync(
      join(alone, "package.json"),
      JSON.stringify({ name: "tink-effect-production", private: true, type: "module" }, null, 2)
    )
    const ranges = peerRanges()
    const tarballsOf = [...ours].map((name) =>
      join(tarballs, (packed.find((p) => p.name === name) ?? fail(`${name} was not packed`)).file)
    )
    await npm(
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-online",
        "--omit=dev",
        ...tarballsOf,
        ...peers.map((peer) => `${peer}@${ranges[peer]}`)
      ],
      alone
    )
    const { stdout } = await npm(["ls", "--omit=dev", "--all", "--parseable", "--long"], alone)
    const listed = stdout.split("\n").filter((line) => line.trim() !== "")
    const sandbox = listed.filter((line) => line.includes("@tink-effect/sandbox"))
    if (sandbox.length > 0) fail(`npm ls --omit=dev lists the sandbox:\n${sandbox.join("\n")}`)
    // Listed or not, the package must load: an import of an undeclared package fails here.
    await run(process.execPath, ["--input-type=module", "-e", "await import(\"@tink-effect/platform-node\")"], {
      cwd: alone
    })
    // NodeTink.layerSandbox loads the sandbox (an optional peer) only when built: without it, it
    // says what to install.
    await run(process.execPath, ["--input-type=module", "-e", layerSandboxWithoutSandboxSource], { cwd: alone })
    return `${listed.length - 1} package(s), ${[...ours].join(", ")}; no @tink-effect/sandbox`
  })

  console.log(`consumer test passed in ${seconds(started)}`)
} catch (error) {
  console.log("FAILED")
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
} finally {
  cleanup()
}
