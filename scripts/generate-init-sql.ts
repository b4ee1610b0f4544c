// Writes mysql-init/001-checkpointer-schema.sql from the module's DDL (its single source).
import { writeFileSync } from "node:fs";
import { renderSchemaSql } from "../checkpointer/mysql/schema.js";

const INIT_SQL_PATH = "mysql-init/001-checkpointer-schema.sql";

writeFileSync(INIT_SQL_PATH, renderSchemaSql());
console.log(`wrote ${INIT_SQL_PATH}`);
