// Stand-in for the mysql image's `docker_process_sql`: runs the SQL on stdin as root, in
// MYSQL_DATABASE unless a --database=… argument says otherwise (as in the image, the last one
// wins). Root's URL comes from INITDB_ROOT_URL. Plain JavaScript, so bash can run it with node.
/* global process, URL */
import mysql from "mysql2/promise";

let database = process.env.MYSQL_DATABASE;
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith("--database=")) database = arg.slice("--database=".length);
  else if (arg !== "--dont-use-mysql-root-password") throw new Error(`docker_process_sql shim: unsupported argument ${arg}`);
}

let sql = "";
for await (const chunk of process.stdin) sql += chunk;

const url = new URL(process.env.INITDB_ROOT_URL);
url.pathname = `/${database ?? ""}`;
const connection = await mysql.createConnection({ uri: url.toString(), multipleStatements: true });
try {
  await connection.query(sql);
} finally {
  await connection.end();
}
