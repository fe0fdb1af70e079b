/// The `/docs` page: a self-contained reference that renders `/openapi.json` in the browser (no CDN: works offline).
enum DocsPage {
    static let html: String = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Reelsmith API reference</title>
    <style>
      :root { --fg:#1d1f23; --muted:#5d6470; --line:#e3e6ea; --bg:#fafbfc; --accent:#5b3cc4; }
      * { box-sizing: border-box; }
      body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:#fff; }
      nav { position:fixed; top:0; bottom:0; left:0; width:270px; overflow:auto; padding:18px; background:var(--bg); border-right:1px solid var(--line); }
      nav h1 { font-size:18px; margin:0 0 4px; } nav .ver { color:var(--muted); font-size:13px; margin-bottom:14px; }
      nav h2 { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:16px 0 4px; }
      nav a { display:block; color:var(--fg); text-decoration:none; font-size:13px; padding:2px 0; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
      nav a:hover { color:var(--accent); }
      main { margin-left:270px; padding:24px 40px 80px; max-width:1100px; }
      .intro { white-space:pre-wrap; color:var(--muted); }
      section.op { border:1px solid var(--line); border-radius:8px; margin:18px 0; padding:14px 18px; }
      .sig { font-family:ui-monospace, Menlo, monospace; font-size:14px; }
      .m { display:inline-block; min-width:62px; text-align:center; font-weight:700; border-radius:4px; padding:1px 6px; color:#fff; margin-right:8px; font-size:12px; }
      .get{background:#2f7d32}.post{background:#1f5fbf}.patch{background:#a86b00}.delete{background:#b3261e}.put{background:#6a3fb5}
      h3 { margin:8px 0 4px; font-size:16px; } h4 { margin:14px 0 4px; font-size:13px; text-transform:uppercase; color:var(--muted); letter-spacing:.04em; }
      table { border-collapse:collapse; width:100%; font-size:13px; } td, th { text-align:left; vertical-align:top; padding:4px 8px; border-top:1px solid var(--line); }
      code, .schema { font-family:ui-monospace, Menlo, monospace; font-size:12.5px; }
      .schema { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px 10px; white-space:pre-wrap; overflow:auto; }
      .schema a { color:var(--accent); } .lock { color:var(--muted); font-size:12px; }
      .status { font-weight:700; font-family:ui-monospace, monospace; }
      #error { color:#b3261e; }
    </style>
    </head>
    <body>
    <nav id="nav"><h1>Reelsmith API</h1><div class="ver" id="ver">loading…</div></nav>
    <main id="main"><p id="error"></p></main>
    <script>
    "use strict";
    const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
    const el = (tag, attrs, html) => { const e = document.createElement(tag); Object.assign(e, attrs || {}); if (html !== undefined) e.innerHTML = html; return e; };
    let doc;
    function refName(r) { return r.split("/").pop(); }
    function resolve(o) { while (o && o.$ref) { const parts = o.$ref.replace(/^#\//, "").split("/"); o = parts.reduce((a, k) => a[k], doc); } return o; }
    function typeOf(s) {
      if (!s) return "any";
      if (s.$ref) return `<a href="#schema-${esc(refName(s.$ref))}">${esc(refName(s.$ref))}</a>`;
      if (s.oneOf) return s.oneOf.map(typeOf).join(" | ");
      if (s.allOf) return s.allOf.map(typeOf).join(" & ");
      let t = Array.isArray(s.type) ? s.type.join(" | ") : (s.type || "any");
      if (s.type === "array") t = typeOf(s.items) + "[]";
      if (s.enum) t = s.enum.map(v => JSON.stringify(v)).join(" | ");
      if (s.format) t += ` (${esc(s.format)})`;
      const lim = [];
      if (s.minimum !== undefined) lim.push("≥ " + s.minimum);
      if (s.maximum !== undefined) lim.push("≤ " + s.maximum);
      if (s.minLength !== undefined) lim.push("length ≥ " + s.minLength);
      if (s.maxLength !== undefined) lim.push("length ≤ " + s.maxLength);
      return t + (lim.length ? ` <span class="lock">[${lim.join(", ")}]</span>` : "");
    }
    function schemaBlock(s, depth) {
      depth = depth || 0;
      if (!s) return "";
      if (s.$ref && depth > 0) return typeOf(s);
      const r = s.$ref ? resolve(s) : s;
      if (r.allOf) return r.allOf.map(x => schemaBlock(x, depth + 1)).join("\n+ ");
      if (r.type === "object" && r.properties) {
        const req = new Set(r.required || []);
        const lines = Object.entries(r.properties).map(([k, v]) =>
          `${"  ".repeat(depth + 1)}${esc(k)}${req.has(k) ? "" : "?"}: ${v.type === "object" && v.properties ? "{\n" + schemaBlock(v, depth + 1) + "\n" + "  ".repeat(depth + 1) + "}" : typeOf(v)}${v.description ? `  <span class="lock">// ${esc(v.description)}</span>` : ""}`);
        return (depth === 0 && s.$ref ? typeOf(s) + " " : "") + (depth === 0 ? "{\n" : "") + lines.join("\n") + (depth === 0 ? "\n}" : "");
      }
      return typeOf(s);
    }
    function render() {
      const nav = document.getElementById("nav"), main = document.getElementById("main");
      document.getElementById("ver").textContent = `${doc.info.title} ${doc.info.version} · OpenAPI ${doc.openapi}`;
      main.appendChild(el("h1", {}, esc(doc.info.title)));
      main.appendChild(el("p", {className: "intro"}, esc(doc.info.description || "")));
      const schemes = doc.components.securitySchemes || {};
      main.appendChild(el("h2", {}, "Authentication"));
      main.appendChild(el("ul", {}, Object.entries(schemes).map(([n, s]) => `<li><code>${esc(n)}</code>: ${esc(s.description || s.type)}</li>`).join("")));
      const byTag = {};
      for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
        const tag = (op.tags || ["other"])[0]; (byTag[tag] = byTag[tag] || []).push({path, method, op});
      }
      for (const t of (doc.tags || []).map(t => t.name).concat(Object.keys(byTag)).filter((v, i, a) => a.indexOf(v) === i)) {
        if (!byTag[t]) continue;
        const info = (doc.tags || []).find(x => x.name === t);
        nav.appendChild(el("h2", {}, esc(t)));
        main.appendChild(el("h2", {id: "tag-" + t}, esc(t) + (info ? ` <span class="lock">— ${esc(info.description)}</span>` : "")));
        for (const {path, method, op} of byTag[t]) {
          const id = op.operationId || (method + path);
          nav.appendChild(el("a", {href: "#" + id, title: method.toUpperCase() + " " + path}, `<span class="sig">${method.toUpperCase()}</span> ${esc(path)}`));
          const sec = el("section", {className: "op", id});
          const open = op.security && op.security.length === 0;
          let h = `<div class="sig"><span class="m ${method}">${method.toUpperCase()}</span>${esc(path)}</div><h3>${esc(op.summary || "")}</h3>`;
          h += `<div class="lock">${open ? "No authentication." : "Bearer API key or session cookie."} <code>${esc(id)}</code></div>`;
          if (op.description) h += `<p>${esc(op.description)}</p>`;
          const params = (op.parameters || []).map(resolve);
          if (params.length) h += `<h4>Parameters</h4><table>${params.map(p => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}${p.required ? ", required" : ""}</td><td>${typeOf(p.schema)}</td><td>${esc(p.description || "")}</td></tr>`).join("")}</table>`;
          if (op.requestBody) {
            const rb = resolve(op.requestBody);
            for (const [ct, media] of Object.entries(rb.content || {}))
              h += `<h4>Body (${esc(ct)}${rb.required ? "" : ", optional"})</h4><div class="schema">${schemaBlock(media.schema)}</div>`;
          }
          h += `<h4>Responses</h4><table>${Object.entries(op.responses).map(([code, r]) => { r = resolve(r);
            const c = Object.entries(r.content || {}).map(([ct, m]) => `<div class="lock">${esc(ct)}</div>` + (m.schema ? `<div class="schema">${schemaBlock(m.schema)}</div>` : "")).join("");
            return `<tr><td class="status">${esc(code)}</td><td>${esc(r.description || "")}${c}</td></tr>`; }).join("")}</table>`;
          sec.innerHTML = h; main.appendChild(sec);
        }
      }
      nav.appendChild(el("h2", {}, "schemas"));
      main.appendChild(el("h2", {id: "schemas"}, "Schemas"));
      for (const [name, s] of Object.entries(doc.components.schemas || {})) {
        nav.appendChild(el("a", {href: "#schema-" + name}, esc(name)));
        const sec = el("section", {className: "op", id: "schema-" + name});
        sec.innerHTML = `<h3>${esc(name)}</h3>${s.description ? `<p>${esc(s.description)}</p>` : ""}<div class="schema">${schemaBlock(s)}</div>`;
        main.appendChild(sec);
      }
      if (location.hash) { const t = document.getElementById(location.hash.slice(1)); if (t) t.scrollIntoView(); }
    }
    fetch("/openapi.json").then(r => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(d => { doc = d; render(); })
      .catch(e => { document.getElementById("error").textContent = "Could not load /openapi.json: " + e.message; });
    </script>
    </body>
    </html>
    """#
}
