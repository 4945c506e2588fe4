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
  let options = [];
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

  function render() {
    listbox.replaceChildren();
    options.forEach((term, i) => {
      const item = document.createElement("li");
      item.id = "term-option-" + i;
      item.setAttribute("role", "option");
      item.dataset.termId = term.id;
      const label = document.createElement("span");
      label.textContent = term.label + " ";
      const id = document.createElement("span");
      id.className = "term-id";
      id.textContent = term.id;
      item.append(label, id);
      if (term.synonym) {
        const synonym = document.createElement("div");
        synonym.className = "synonym";
        synonym.textContent = "synonym: " + term.synonym;
        item.append(synonym);
      }
      item.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the focus in the input
        choose(i, true);
      });
      listbox.append(item);
    });
    const open = options.length > 0;
    listbox.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    highlight(open ? 0 : -1);
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
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-term-picker]").forEach(setUpTermPicker);
  document.querySelectorAll("[data-add-gene]").forEach(setUpGeneRows);
});
