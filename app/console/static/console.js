// Revflow console: the little behaviour htmx does not give. Our own code, no inline script.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.classList.contains("select-group")) return;
  const group = box.dataset.group;
  for (const item of document.querySelectorAll(`input[name="sel"][data-group="${group}"]`)) {
    item.checked = box.checked;
  }
});
