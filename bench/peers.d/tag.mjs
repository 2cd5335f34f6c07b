// Reads `errand bench --json`'s line on stdin and prints it with the store renamed (errand-sqlite,
// errand-postgres), the run (main, scaling, large), the version and the command added up front.
// Usage: node tag.mjs STORE RUN COMMAND
import { readFileSync } from "node:fs";
const [store, run, command] = process.argv.slice(2);
const line = readFileSync(0, "utf8").split("\n").filter((l) => l.startsWith("{")).pop();
const { store: kind, ...rest } = JSON.parse(line);
process.stdout.write(JSON.stringify({ store, run, version: rest.errand_version, backend: kind, ...rest, command }) + "\n");
