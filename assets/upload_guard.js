// Score tab's photo input (runs once, as #score-cards' js_on_load). Listeners sit on
// the document in the capture phase, so they run before the upload component's own.
//
// 1. A photo over the upload limit is refused in the browser, before a byte is sent,
//    with the panel the server gives for `image_too_large`. Without this Gradio's own
//    size check (max_file_size, the same limit) would still stop it, with a generic toast.
// 2. HEIC/HEIF (phones' photos): browsers other than Safari give such a file no
//    `image/` type, and the component then refuses it ("Invalid file type"). The file
//    is handed on retyped as image/heic (the server decodes it; the page shows the
//    server-drawn overlay), and the file chooser lists .heic/.heif files.
(() => {
  if (window.__aurumUploadGuard) return;
  window.__aurumUploadGuard = true;
  const LIMIT = __MAX_BYTES__, PANEL = __PANEL__;
  const HEIF = /\.(heic|heif|hif)$/i;
  const inInput = (e) => e.target && e.target.closest && e.target.closest("#input-image");
  const clear = () => document.getElementById("upload-refused")?.remove();
  const refused = (e, files) => {
    const big = Array.from(files || []).find((f) => f.size > LIMIT);
    clear();
    if (!big) return false;
    e.preventDefault();
    e.stopImmediatePropagation();
    if (e.type === "change") e.target.value = "";
    const box = document.createElement("div");
    box.id = "upload-refused";
    box.innerHTML = PANEL.replace("__MB__", (big.size / 1e6).toFixed(1));
    document.getElementById("input-image").insertAdjacentElement("afterend", box);
    return true;
  };
  // The same files, HEIC/HEIF ones given the image type the browser left out; or null.
  const retyped = (files) => {
    const list = Array.from(files || []);
    if (!list.some((f) => HEIF.test(f.name) && !f.type.startsWith("image/"))) return null;
    const dt = new DataTransfer();
    for (const f of list) {
      dt.items.add(HEIF.test(f.name) && !f.type.startsWith("image/")
        ? new File([f], f.name, {type: "image/heic", lastModified: f.lastModified}) : f);
    }
    return dt;
  };
  document.addEventListener("change", (e) => {
    if (!inInput(e) || refused(e, e.target.files)) return;
    const dt = retyped(e.target.files);
    if (dt) e.target.files = dt.files;  // the component reads them after this listener
  }, true);
  document.addEventListener("drop", (e) => {
    if (!inInput(e) || e.__aurumRetyped) return;
    const files = e.dataTransfer && e.dataTransfer.files;
    if (refused(e, files)) return;
    const dt = retyped(files);
    if (!dt) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    const again = new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true});
    again.__aurumRetyped = true;
    e.target.dispatchEvent(again);
  }, true);
  document.addEventListener("click", (e) => {
    if (!inInput(e)) return;
    const input = document.querySelector("#input-image input[type=file]");
    if (input && !/heic/.test(input.accept)) input.accept = `${input.accept || "image/*"},.heic,.heif`;
  }, true);
})();
