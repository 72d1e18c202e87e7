(() => {
  'use strict';
  const byId = (id) => document.getElementById(id);
  const cases = Array.from(document.querySelectorAll('.case'));
  const f = {
    method: byId('filter-method'), direction: byId('filter-direction'),
    verdict: byId('filter-verdict'), section: byId('filter-section'), search: byId('search'),
  };
  const toggleOf = (c) => c.querySelector('.case-toggle');
  function setExpanded(c, open) {
    const button = toggleOf(c);
    const body = byId(button.getAttribute('aria-controls'));
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    body.hidden = !open;
  }
  function matches(m, d, el) {
    return (m === 'all' || el.dataset.method === m) && (d === 'all' || el.dataset.direction === d);
  }
  function apply() {
    const m = f.method.value, d = f.direction.value, v = f.verdict.value, s = f.section.value;
    const q = f.search.value.trim().toLowerCase();
    let shown = 0;
    for (const c of cases) {
      const methods = c.dataset.methods.split(' '), directions = c.dataset.directions.split(' ');
      const ok = (m === 'all' || methods.includes(m)) && (d === 'all' || directions.includes(d))
        && (v === 'all' || c.dataset.verdict === v)
        && (s === 'all' || c.dataset.sectionAnchor === s)
        && (!q || c.dataset.caseId.toLowerCase().includes(q));
      c.hidden = !ok;
      if (ok) shown += 1;
      let hiddenExchanges = 0;
      for (const ex of c.querySelectorAll('.exchange')) {
        ex.hidden = !matches(m, d, ex);
        if (ex.hidden) hiddenExchanges += 1;
      }
      const note = c.querySelector('.filtered-note');
      note.hidden = hiddenExchanges === 0;
      note.textContent = hiddenExchanges
        + ' exchange(s) of this case hidden by the method or direction filter.';
    }
    byId('shown-count').textContent = String(shown);
    byId('no-match').hidden = shown !== 0;
  }
  function flash(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    window.setTimeout(() => { button.textContent = button.dataset.label; }, 1800);
  }
  function selectText(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function copy(button) {
    const pre = byId(button.dataset.copy);
    if (!pre) return;
    const fallback = () => {
      selectText(pre);
      let ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      flash(button, ok ? 'Copied' : 'Selected: press Ctrl+C');
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(pre.textContent).then(() => flash(button, 'Copied'), fallback);
    } else {
      fallback();
    }
  }
  function openHash() {
    let id = '';
    try { id = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return; }
    const el = id ? byId(id) : null;
    const c = el ? el.closest('.case') : null;
    if (!c) return;
    c.hidden = false;
    setExpanded(c, true);
    el.scrollIntoView();
  }
  for (const el of Object.values(f)) {
    el.addEventListener('input', apply);
    el.addEventListener('change', apply);
  }
  byId('filters').addEventListener('submit', (ev) => ev.preventDefault());
  byId('filters').addEventListener('reset', () => window.setTimeout(apply, 0));
  byId('expand-all').addEventListener('click', () => {
    for (const c of cases) if (!c.hidden) setExpanded(c, true);
  });
  byId('collapse-all').addEventListener('click', () => {
    for (const c of cases) setExpanded(c, false);
  });
  document.addEventListener('click', (ev) => {
    const target = ev.target instanceof Element ? ev.target : null;
    if (!target) return;
    const toggle = target.closest('.case-toggle');
    if (toggle) {
      setExpanded(toggle.closest('.case'), toggle.getAttribute('aria-expanded') !== 'true');
      return;
    }
    const copyButton = target.closest('button.copy');
    if (copyButton) { copy(copyButton); return; }
    const setter = target.closest('[data-filter-verdict],[data-filter-section]');
    if (setter) {
      f.method.value = 'all'; f.direction.value = 'all'; f.search.value = '';
      f.verdict.value = setter.dataset.filterVerdict || 'all';
      f.section.value = setter.dataset.filterSection || 'all';
      apply();
      byId('cases').scrollIntoView();
    }
  });
  window.addEventListener('hashchange', openHash);
  apply();
  openHash();
})();
