// matchmaker: the little JavaScript the pages need. Everything else is plain forms and htmx.
"use strict";

// The HPO term picker of the case form: an ARIA combobox over /terms/search/, and the list of
// chosen terms, each a hidden input named observed_terms or excluded_terms.
function setUpTermPicker(picker) {
  const input = picker.querySelector("[role=combobox]");
  const listbox = picker.querySelector("[role=listbox]");
  const chosen = document.getElementById("chosen-terms");
  const template = document.getElementById("chosen-term-template");
  const emptyNote = document.querySelector("[data-empty-terms]");
  const searchUrl = picker.dataset.searchUrl;
  const relatedUrl = picker.dataset.relatedUrl;
  let options = [];
  let note = "";
  let active = -1;
  let timer = null;
  let latestRequest = 0;

  function close() {
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    const items = listbox.querySelectorAll("[role=option]");
    items.forEach((item, i) => item.setAttribute("aria-selected", i === index ? "true" : "false"));
    active = index;
    if (index >= 0 && items[index]) {
      input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    }
  }

  // Each offer may carry a relation ("broader", "this term", "narrower") when the list shows a
  // term's neighbourhood instead of search results.
  function render() {
    listbox.replaceChildren();
    options.forEach((term, i) => {
      const item = document.createElement("li");
      item.id = "term-option-" + i;
      item.setAttribute("role", "option");
      item.dataset.termId = term.id;
      if (term.relation) {
        const relation = document.createElement("span");
        relation.className = "relation";
        relation.textContent = term.relation + ": ";
        item.append(relation);
      }
      const label = document.createElement("span");
      label.textContent = term.label + " ";
      const id = document.createElement("span");
      id.className = "term-id";
      id.textContent = term.id;
      item.append(label, id);
      if (term.relation !== "this term") {
        // Not focusable: the input keeps the focus, and → does the same from the keyboard.
        const explore = document.createElement("button");
        explore.type = "button";
        explore.tabIndex = -1;
        explore.className = "term-explore";
        explore.dataset.explore = "";
        explore.textContent = "broader / narrower";
        explore.title = "Show broader and narrower terms (→)";
        item.prepend(explore); // first, so that it floats to the top right of the option
      }
      if (term.synonym) {
        const synonym = document.createElement("div");
        synonym.className = "synonym";
        synonym.textContent = "synonym: " + term.synonym;
        item.append(synonym);
      }
      item.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the focus in the input
        if (event.target.closest("[data-explore]")) explore(i);
        else choose(i, true);
      });
      listbox.append(item);
    });
    if (note) {
      const item = document.createElement("li");
      item.className = "term-note";
      item.setAttribute("role", "presentation");
      item.textContent = note;
      listbox.append(item);
    }
    const open = options.length > 0;
    listbox.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    highlight(open ? 0 : -1);
  }

  // Replace the offers with a term's parents, the term, and its children (most common first).
  async function explore(index) {
    const term = options[index];
    if (!term) return;
    const request = ++latestRequest;
    const response = await fetch(relatedUrl.replace("HP:0000000", encodeURIComponent(term.id)), {
      headers: { Accept: "application/json" },
    });
    if (!response.ok || request !== latestRequest) return;
    const related = await response.json();
    const tagged = (terms, relation) => terms.map((t) => ({ ...t, relation: relation }));
    options = [
      ...tagged(related.parents, "broader"),
      ...tagged([related.term], "this term"),
      ...tagged(related.children, "narrower"),
    ];
    note = related.more_children
      ? related.more_children + " rarer narrower terms not shown: type to search them."
      : "";
    render();
    highlight(related.parents.length); // the term itself
  }

  async function search() {
    const text = input.value.trim();
    if (text.length < 2) {
      options = [];
      render();
      return;
    }
    const request = ++latestRequest;
    const response = await fetch(searchUrl + "?q=" + encodeURIComponent(text), {
      headers: { Accept: "application/json" },
    });
    if (!response.ok || request !== latestRequest) return; // a newer keystroke won
    options = (await response.json()).terms;
    note = "";
    render();
  }

  function setState(item, observed) {
    item.classList.toggle("excluded", !observed);
    item.querySelector("input[type=hidden]").name = observed ? "observed_terms" : "excluded_terms";
    item.querySelector("[data-role=state]").value = observed ? "observed" : "excluded";
  }

  function wire(item) {
    item.querySelector("[data-role=state]").addEventListener("change", (event) => {
      setState(item, event.target.value === "observed");
    });
    item.querySelector("[data-role=remove]").addEventListener("click", () => {
      item.remove();
      emptyNote.hidden = chosen.children.length > 0;
      input.focus();
    });
  }

  function choose(index, observed) {
    const term = options[index];
    if (!term) return;
    let item = chosen.querySelector(`[data-term="${term.id}"]`);
    if (!item) {
      item = template.content.firstElementChild.cloneNode(true);
      item.dataset.term = term.id;
      item.querySelector("input[type=hidden]").value = term.id;
      item.querySelector(".term-label").textContent = term.label;
      item.querySelector(".term-id").textContent = term.id;
      item.querySelector("[data-role=state]").setAttribute("aria-label", "Observed or excluded: " + term.label);
      item.querySelector("[data-role=remove]").setAttribute("aria-label", "Remove " + term.label);
      wire(item);
      chosen.append(item);
    }
    setState(item, observed);
    emptyNote.hidden = true;
    input.value = "";
    options = [];
    close();
    input.focus();
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 120);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && options.length) {
      event.preventDefault();
      if (listbox.hidden) render();
      else highlight(Math.min(active + 1, options.length - 1));
    } else if (
      event.key === "ArrowRight" &&
      active >= 0 &&
      !listbox.hidden &&
      input.selectionStart === input.value.length // otherwise → moves the caret, as usual
    ) {
      event.preventDefault();
      explore(active);
    } else if (event.key === "ArrowUp" && options.length) {
      event.preventDefault();
      highlight(Math.max(active - 1, 0));
    } else if (event.key === "Enter") {
      // Enter in the picker adds a term; it must never submit the case form half-filled.
      event.preventDefault();
      if (active >= 0) choose(active, !event.shiftKey);
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  chosen.querySelectorAll("li").forEach(wire);
}

// "Add another gene": a new row from the formset's empty form, numbered after the others.
// "Remove this gene": the row's DELETE box is ticked and the row hidden (not taken out of the
// page: the formset counts its rows by number, and the server must know a stored gene went).
function setUpGeneRows(button) {
  const rows = document.getElementById("gene-rows");
  const template = document.getElementById("gene-row-template");
  const total = document.querySelector("input[name=genes-TOTAL_FORMS]");
  button.addEventListener("click", () => {
    const index = Number(total.value);
    const html = template.innerHTML.replaceAll("__prefix__", String(index));
    rows.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    const row = rows.lastElementChild;
    if (window.htmx) window.htmx.process(row);
    row.querySelector("input[type=text]").focus();
  });
  rows.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-remove-gene]");
    if (!remove) return;
    const row = remove.closest("[data-gene-row]");
    row.querySelector("[data-delete-gene]").checked = true;
    row.hidden = true;
    button.focus();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-term-picker]").forEach(setUpTermPicker);
  document.querySelectorAll("[data-add-gene]").forEach(setUpGeneRows);
});
