import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderSchemaSql } from "../../checkpointer/index.js";

describe("mysql-init/", () => {
  it("holds exactly the schema the module generates (run `npm run schema:generate` after changing it)", () => {
    expect(readFileSync("mysql-init/001-checkpointer-schema.sql", "utf8")).toBe(renderSchemaSql());
  });

  it("uses only portable MySQL 8.0.19+ SQL: no procedures, triggers, events, JSON_TABLE or VALUES()", () => {
    const sql = renderSchemaSql().replace(/^--.*$/gm, "");
    // Keywords, not words in COMMENT '…' text (a column's comment may say "the last event id").
    const code = sql.replace(/'(?:[^']|'')*'/g, "''");
    expect(code).not.toMatch(/\b(PROCEDURE|TRIGGER|EVENT|JSON_TABLE|DELIMITER)\b/i);
    expect(sql).not.toMatch(/VALUES\s*\(\s*[a-z_]+\s*\)/i);
    // Every table has an explicit primary key (Group Replication and Vitess need them).
    const tables = sql.match(/CREATE TABLE/g)!.length;
    expect(sql.match(/PRIMARY KEY/g)!.length).toBe(tables);
  });
});
