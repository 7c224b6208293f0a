// Live tab flow control (runs once, as #live-overlay's js_on_load; `element` is it).
//
// Gradio's streaming webcam draws, JPEG-encodes and posts a frame every `stream_every`
// seconds whether or not the server has answered the last ones; the server keeps only
// the newest, so with several visitors on one machine most of those frames are encoded
// and posted for nothing, and the browser's CPU, not the server's, sets the frame rate
// (bench/README.md). Here the page sends a new frame only while fewer than MAX_AHEAD
// frames are waiting for an answer (an answer is a new overlay in this element); a
// frame unanswered for STALE_MS no longer counts. One visitor alone still sends at the
// full `stream_every` rate (two frames in flight cover the round trip).
//
// The gate is the webcam's own check: each tick Gradio reads `video.videoWidth` first
// and skips the frame when it is 0. Only #live-cam's <video> is touched, and only that
// first read of a tick answers 0; the picture keeps playing.
(() => {
  const MAX_AHEAD = __MAX_AHEAD__, STALE_MS = 1000;
  const sends = [];  // times of the frames still waiting for an answer
  let lastFrames = null;
  new MutationObserver(() => {
    const fig = element.querySelector("[data-frames]");
    const n = fig ? fig.getAttribute("data-frames") : null;
    if (n !== null && n !== lastFrames) { lastFrames = n; sends.shift(); }
  }).observe(element, {subtree: true, childList: true, attributes: true,
                       attributeFilter: ["data-frames"]});
  const width = Object.getOwnPropertyDescriptor(HTMLVideoElement.prototype, "videoWidth");
  const gate = (video) => {
    if (!width || video.__aurumGate) return;
    video.__aurumGate = true;
    let inTick = false;
    Object.defineProperty(video, "videoWidth", {configurable: true, get() {
      const w = width.get.call(this);
      if (inTick || !w) return w;
      const now = performance.now();
      while (sends.length && now - sends[0] > STALE_MS) sends.shift();
      if (sends.length >= MAX_AHEAD) return 0;  // this tick sends nothing
      sends.push(now);
      inTick = true;  // the rest of this tick's reads get the real width
      queueMicrotask(() => { inTick = false; });
      return w;
    }});
  };
  const find = () => {
    const v = document.querySelector("#live-cam video");
    if (v) gate(v);
  };
  setInterval(find, 500);  // the <video> appears when the camera starts (again)
  find();
})();
