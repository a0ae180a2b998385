"""`harness publish`: a static site of stored results that works offline and from any
static host (every link relative, plotly.js written once as `plotly.min.js`).

Layout of a site folder::

    index.html                     hardware profiles, runs, plans, models
    plotly.min.js                  from the installed plotly package
    runs/<run>.html                the run report (reporter `html`), every folder of the run
    compare/<profile>/<run>.html   the run vs its baseline, else its plan's previous run
    trends/<profile>/<plan>.html   every run of a plan on a profile (of two or more runs)
    across/<plan>.html             the latest run of a plan on each profile, side by side
    models/<model>.html            one model on every profile x format x backend
    data/results/                  the results the pages were built from (a results root)
    data/hardware_profiles/        the hardware profiles those results name

`data/` makes a site mergeable: `harness publish --merge` (and `harness nightly --publish`)
adds new results to what the site holds, so runners on different machines can publish
into one site. Modules: `gather` (results folders -> data/), `catalog` (what data/ holds),
`urls` (page paths), `build` (every page), `index`, `across`, `models` (the site's own
pages), `markup` (their HTML helpers).
"""
