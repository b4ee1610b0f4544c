// `npm run faults:write-md`: RELIABILITY.md from the fault suite's last complete run. The suite
// itself never writes a tracked file; it leaves its report in test/faults/results/.
import { copyFileSync, existsSync } from "node:fs";
import { RELIABILITY_RESULT } from "../test/faults/support/report.js";

if (!existsSync(RELIABILITY_RESULT.file)) {
  console.error(`${RELIABILITY_RESULT.file} is missing: run the fault suite first (npx vitest run test/faults), with every scenario passing`);
  process.exitCode = 1;
} else {
  copyFileSync(RELIABILITY_RESULT.file, "RELIABILITY.md");
  console.log(`RELIABILITY.md updated from ${RELIABILITY_RESULT.file}`);
}
