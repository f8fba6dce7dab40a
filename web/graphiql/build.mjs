// Bundle GraphiQL into graphql_api/static/graphiql/ (graphiql.js, graphiql.css): the files the
// app serves. Run by `make install` after `npm ci`; the output is not committed.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { rmSync } from "node:fs";

const outdir = fileURLToPath(new URL("../../graphql_api/static/graphiql/", import.meta.url));
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { graphiql: fileURLToPath(new URL("src/main.jsx", import.meta.url)) },
  outdir,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  loader: { ".js": "jsx" },
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "external",
  logLevel: "warning",
});
console.log(`GraphiQL assets written to ${outdir}`);
