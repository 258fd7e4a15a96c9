// The OpenAPI document as a JavaScript client reads it: every `pattern` is an ECMAScript regular
// expression (JSON Schema's dialect; validators compile them with the "u" flag), and the free-text
// ones mean what the API enforces.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const document = JSON.parse(readFileSync(new URL("../openapi.json", import.meta.url), "utf8"));

/** Every `pattern` in the document, with the property it constrains (its path's last name). */
function patterns(node, path = [], found = []) {
  if (Array.isArray(node)) node.forEach((item, i) => patterns(item, [...path, String(i)], found));
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "pattern" && typeof value === "string") found.push({ path: path.join("/"), pattern: value });
      else patterns(value, [...path, key], found);
    }
  }
  return found;
}

test("every pattern compiles as an ECMAScript regular expression with the u flag", () => {
  const all = patterns(document);
  assert.ok(all.length >= 3, "the name, notes and cursor patterns at least");
  for (const { path, pattern } of all) {
    assert.doesNotThrow(() => new RegExp(pattern, "u"), `${path}: ${pattern.slice(0, 60)}`);
  }
});

test("name and notes accept ordinary text in any script and refuse control and invisible characters", () => {
  const free = patterns(document).filter(({ path }) => /\/properties\/(name|notes)\//.test(path));
  assert.ok(free.length >= 2, "CreateProgramRequest's name and notes");
  for (const { path, pattern } of free) {
    const rule = new RegExp(pattern, "u");
    for (const ok of ["Hypertrophy", "Block one", "Semaine 1 : dos et épaules", "筋トレ 💪", "line one\nline two\ttab"]) {
      assert.ok(rule.test(ok), `${path} refuses ${JSON.stringify(ok)}`);
    }
    // A bell, a bidirectional override, a zero-width space, and two beyond U+FFFF (an Egyptian
    // format control, a tag character): the last two need the \u{...} syntax to be refused at all.
    for (const bad of ["Block\u0007one", "abc\u202edef", "a\u200bb", "x\u{13430}y", "x\u{e0041}y"]) {
      assert.ok(!rule.test(bad), `${path} accepts ${JSON.stringify(bad)}`);
    }
  }
});
