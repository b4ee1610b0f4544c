// The fault suite: real app processes and real MySQL servers, broken on purpose. One file, so the
// scenarios run one after another (a soak next to a MySQL kill would measure neither) and one
// afterAll can write the report once all ten have passed: to test/faults/results/ (untracked),
// never to RELIABILITY.md, which `npm run faults:write-md` updates from it.
import { mkdirSync, writeFileSync } from "node:fs";
import mysql from "mysql2/promise";
import { afterAll, inject } from "vitest";
import { abuse } from "./abuse.js";
import { appCrash } from "./app-crash.js";
import { badInput } from "./bad-input.js";
import { clusterFailover } from "./cluster-failover.js";
import { mysqlOutage } from "./mysql-outage.js";
import { packetLimit } from "./packet-limit.js";
import { searchTenants } from "./search-tenants.js";
import { secrets } from "./secrets.js";
import { soak } from "./soak.js";
import { killApps, removeWorkDir } from "./support/fault-app.js";
import { RELIABILITY_RESULT, ReliabilityReport } from "./support/report.js";
import { twoWriters } from "./two-writers.js";

const started = Date.now();
const report = new ReliabilityReport([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

mysqlOutage(report);
appCrash(report);
twoWriters(report);
badInput(report);
packetLimit(report);
secrets(report);
soak(report);
clusterFailover(report);
abuse(report);
searchTenants(report);

afterAll(async () => {
  await killApps();
  removeWorkDir();
  const missing = report.missing();
  if (missing.length > 0) {
    console.warn(`no reliability report: scenario(s) ${missing.join(", ")} did not run to the end`);
    return;
  }
  const conn = await mysql.createConnection(inject("mysqlUrl")!);
  try {
    const [[row]] = await conn.query<mysql.RowDataPacket[]>("SELECT VERSION() AS version");
    mkdirSync(RELIABILITY_RESULT.dir, { recursive: true });
    writeFileSync(RELIABILITY_RESULT.file, report.render({ mysqlVersion: String(row!.version), date: new Date(), wallMs: Date.now() - started }));
    console.log(`wrote ${RELIABILITY_RESULT.file}; \`npm run faults:write-md\` copies it to RELIABILITY.md`);
  } finally {
    await conn.end();
  }
});
