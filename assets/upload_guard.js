// Score tab: a photo over the upload limit is refused in the browser, before a byte is
// sent, with the panel the server gives for `image_too_large` (runs once, as
// #score-cards' js_on_load). Without it Gradio's own size check (max_file_size, the
// same limit) would still stop the upload, but with a generic toast. Listeners sit on
// the document in the capture phase, so they run before the upload component's own.
(() => {
  if (window.__aurumUploadGuard) return;
  window.__aurumUploadGuard = true;
  const LIMIT = __MAX_BYTES__, PANEL = __PANEL__;
  const inInput = (e) => e.target && e.target.closest && e.target.closest("#input-image");
  const clear = () => document.getElementById("upload-refused")?.remove();
  const check = (e, files) => {
    if (!inInput(e)) return;
    const big = Array.from(files || []).find((f) => f.size > LIMIT);
    clear();
    if (!big) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    if (e.type === "change") e.target.value = "";
    const box = document.createElement("div");
    box.id = "upload-refused";
    box.innerHTML = PANEL.replace("__MB__", (big.size / 1e6).toFixed(1));
    document.getElementById("input-image").insertAdjacentElement("afterend", box);
  };
  document.addEventListener("change", (e) => check(e, e.target.files), true);
  document.addEventListener("drop", (e) => check(e, e.dataTransfer && e.dataTransfer.files),
                            true);
})();
