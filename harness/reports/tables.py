"""A long table made readable in the page itself, with no library: collapsed in a closed
`<details>`, sorted by clicking a header and filtered by a text box. The script is a few
lines inlined with the table (the page stays self-contained and works offline)."""

from __future__ import annotations

import re

from harness.reports.escaping import text

STYLE = ("<style>details>summary{font-size:1.5rem;font-weight:bold;margin:1.2rem 0;"
         "cursor:pointer} table.sortable th{cursor:pointer;user-select:none}"
         " th[aria-sort=ascending]::after{content:' \\25B2'}"
         " th[aria-sort=descending]::after{content:' \\25BC'}</style>")
SCRIPT = """(function(t,f,c){
var body=t.tBodies[0],rows=[].slice.call(body.rows),heads=t.tHead.rows[0].cells;
function key(r,i){var s=r.cells[i].textContent.trim(),n=parseFloat(s);
return /^[-+]?[.\\d]/.test(s)&&!isNaN(n)?n:s.toLowerCase();}
[].forEach.call(heads,function(th,i){th.tabIndex=0;
th.addEventListener('keydown',function(e){if(e.key==='Enter')th.click();});
th.addEventListener('click',function(){var d=th.getAttribute('aria-sort')==='ascending'?-1:1;
[].forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',d>0?'ascending':'descending');
rows.sort(function(a,b){var x=key(a,i),y=key(b,i);
if(typeof x!==typeof y)return typeof x==='number'?-1:1;return(x<y?-1:x>y?1:0)*d;});
rows.forEach(function(r){body.appendChild(r);});});});
f.addEventListener('input',function(){var w=f.value.toLowerCase().split(/\\s+/).filter(Boolean),n=0;
rows.forEach(function(r){var s=r.textContent.toLowerCase();
r.hidden=!w.every(function(x){return s.indexOf(x)>=0;});n+=r.hidden?0:1;});
c.textContent=n+' of '+rows.length+' rows';});
})"""
"""Called with the table, its filter box and the element counting the rows shown. A click
sorts by that column (numbers before text, so '–' stays last; a second click reverses);
typing shows only the rows holding every word typed."""
_ID = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")


def collapsible_table(table_id: str, title: str, head: str, rows: list[str]) -> str:
    """`rows` (`<tr>` markup, values already escaped) under the header row `head`, inside a
    closed `<details>` whose summary reads `title (N rows)`. `table_id`: a fixed id of
    letters, digits and dashes, unique in the page."""
    if not _ID.match(table_id):
        raise ValueError(f"table id {table_id!r}: letters, digits and dashes only")
    ids = [table_id, f"{table_id}-filter", f"{table_id}-count"]
    calls = ",".join(f"document.getElementById('{i}')" for i in ids)
    return (f"{STYLE}<details id='{table_id}-details'><summary>{text(title)} "
            f"({len(rows)} rows)</summary><p><input type='search' id='{ids[1]}' size='40' "
            "placeholder='filter: words each row shown holds' aria-label='filter rows'> "
            f"<span class='meta'><span id='{ids[2]}'>{len(rows)} rows</span> · click a "
            f"header to sort</span></p><table class='sortable' id='{table_id}'>"
            f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
            f"<script>{SCRIPT}({calls});</script>"
            "</details>")
