import { defineConfig } from "vite";

// The console is built into dist/console/ by scripts/build.js (and so by npm install) and served
// by the API server at /. Everything it loads comes from the server itself: no CDN, no fonts.
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  publicDir: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../dist/console",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    // One small script and one stylesheet: no module preload polyfill to ship.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  // `npm run console:dev`: the console with hot reload on :5173, the API from a server on :8080.
  server: {
    proxy: Object.fromEntries(["/api", "/admin", "/files", "/docs", "/openapi.json"].map((prefix) => [prefix, "http://127.0.0.1:8080"])),
  },
  logLevel: "warn",
});
