// catdog-json.js — JSON.parse for files the page reads (models/index.json, report.json), with the
// nesting limit the C++ side applies to every JSON (catdog/json_bounded.h, 128 levels): a file
// nested deeper is refused with a message naming it and the depth, before any code walks it
// recursively. The depth is measured with an explicit stack, never by recursion.
export const MAX_JSON_DEPTH = 128;

export function parseJsonBounded(text, name, maxDepth = MAX_JSON_DEPTH) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name}: invalid JSON (${e.message})`);
  }
  const stack = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (depth > maxDepth) throw new Error(`${name}: JSON nested deeper than ${maxDepth} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return value;
}

// A shard path of model.json resolved against the model's URL, or an Error when it leaves the
// model's folder (other origin, '..' above it, an absolute path): the rule the native CLI applies
// to files, applied to URLs.
export function shardUrlInside(modelUrl, shardPath) {
  const base = new URL(modelUrl);
  const folder = new URL('./', base);
  let url;
  try {
    url = new URL(shardPath, base);
  } catch {
    return new Error(`weight path '${shardPath}' is not a valid URL`);
  }
  if (url.origin !== base.origin || url.protocol !== base.protocol || !url.pathname.startsWith(folder.pathname)) {
    return new Error(`weight path '${shardPath}' leaves the model's folder ${folder.pathname}`);
  }
  return url;
}
