// catdog-worker.js — runs the wasm core off the main thread (module worker).
// Messages in:  {type:'init', modelUrl, wasmUrl, backend, threads, layerAliases}
//               {type:'classify', id, frame(VideoFrame) | bitmap | pixels(ArrayBuffer)+width+height+format, fit, wantInput, mirror}
//               {type:'tensor', id, data(Float32Array), shape}
//               {type:'dispose'}
// Messages out: {type:'ready', info} | {type:'result', id, ...} | {type:'error', id, code, message}
// The page sends one frame at a time and drops camera frames while one is in flight, so nothing
// queues here.
import { Engine } from './catdog-engine.js';

let engine = null;
let queue = Promise.resolve();  // one message at a time, even across awaits

function fail(id, e) {
  self.postMessage({ type: 'error', id, code: e?.code || 'catdog', message: String(e?.message || e) });
}

self.onmessage = (ev) => {
  queue = queue.then(() => handle(ev.data || {}));
};

async function handle(msg) {
  const { id } = msg;
  try {
    switch (msg.type) {
      case 'init': {
        engine?.dispose();
        engine = null;
        engine = await Engine.create(msg);
        self.postMessage({ type: 'ready', id, info: engine.describe() });
        break;
      }
      case 'classify': {
        if (!engine) throw new Error('the model is not loaded');
        let res;
        if (msg.frame) {
          try {
            res = await engine.classifyVideoFrame(msg.frame, msg);
          } finally {
            msg.frame.close();
          }
        } else if (msg.bitmap) {
          try {
            res = engine.classifyBitmap(msg.bitmap, msg);
          } finally {
            msg.bitmap.close();
          }
        } else {
          res = engine.classifyPixels(new Uint8Array(msg.pixels), msg.width, msg.height, msg);
        }
        const transfer = res.input ? [res.input.buffer] : [];
        self.postMessage({ type: 'result', id, ...res }, transfer);
        break;
      }
      case 'tensor': {
        if (!engine) throw new Error('the model is not loaded');
        const out = engine.predictTensor(msg.data, msg.shape);
        self.postMessage({ type: 'result', id, output: out }, [out.buffer]);
        break;
      }
      case 'dispose': {
        engine?.dispose();
        engine = null;
        self.close();
        break;
      }
      default:
        throw new Error(`unknown message type '${msg.type}'`);
    }
  } catch (e) {
    fail(id, e);
  }
}
