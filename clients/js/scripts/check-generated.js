// Fails when src/openapi.d.ts is not what openapi-typescript makes of openapi.json (`npm run generate`).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const cli = fileURLToPath(new URL("../node_modules/openapi-typescript/bin/cli.js", import.meta.url));
// The options of `npm run generate` (package.json), without its --output: the same types, to stdout.
const generate = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).scripts.generate;
const args = generate.split(/\s+/).slice(1);
args.splice(args.indexOf("--output"), 2);
const fresh = execFileSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
const committed = readFileSync(new URL("../src/openapi.d.ts", import.meta.url), "utf8");
if (fresh !== committed) {
  console.error("src/openapi.d.ts is stale: run `make openapi` (or `npm run generate` in clients/js) and commit it");
  process.exit(1);
}
console.log("src/openapi.d.ts matches openapi.json");
