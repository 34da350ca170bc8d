// Independent cross-check of the C# MessagePack codec against @msgpack/msgpack (run by NodeCrossCheckTests).
//   node crosscheck.mjs decode <in.msgpack> <out.json>   decode a stream of values, describe each
//   node crosscheck.mjs encode <out.msgpack> <out.json>  encode the corpus below, describe each source value
// Descriptions make types explicit so JSON can carry them: {"int":"123"}, {"float":"<ieee754 hex>"|"NaN"},
// {"str":s}, {"bin":hex}, [..] for arrays, {"map":[[k,v],..]}, {"ext":[type,hex]}, {"ts":["sec",nsec]}.
import { readFileSync, writeFileSync } from "node:fs";
import {
  Decoder, Encoder, ExtensionCodec, ExtData, EXT_TIMESTAMP,
  decodeTimestampToTimeSpec, encodeTimeSpecToTimestamp, encodeDateToTimeSpec,
} from "@msgpack/msgpack";

class TimeSpec {
  constructor(sec, nsec) { this.sec = sec; this.nsec = nsec; }
}

// Timestamps as exact {sec, nsec} rather than Date, which would lose nanoseconds and range.
const extensionCodec = new ExtensionCodec();
extensionCodec.register({
  type: EXT_TIMESTAMP,
  encode: (v) => v instanceof TimeSpec ? encodeTimeSpecToTimestamp(v)
    : v instanceof Date ? encodeTimeSpecToTimestamp(encodeDateToTimeSpec(v)) : null,
  decode: (data) => { const { sec, nsec } = decodeTimestampToTimeSpec(data); return new TimeSpec(sec, nsec); },
});

const hex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

function floatBits(v) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  return view.getBigUint64(0).toString(16).padStart(16, "0");
}

function describe(v) {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "boolean": return v;
    case "bigint": return { int: v.toString() };
    case "number":
      if (Number.isNaN(v)) return { float: "NaN" };
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) return { int: String(v) };
      return { float: floatBits(v) };
    case "string": return { str: v };
  }
  if (v instanceof Uint8Array) return { bin: hex(v) };
  if (Array.isArray(v)) return v.map(describe);
  if (v instanceof TimeSpec) return { ts: [String(v.sec), v.nsec] };
  if (v instanceof Date) { const t = encodeDateToTimeSpec(v); return describe(new TimeSpec(t.sec, t.nsec)); }
  if (v instanceof ExtData) return { ext: [v.type, hex(v.data)] };
  if (v instanceof Map) return { map: [...v.entries()].map(([k, x]) => [describe(k), describe(x)]) };
  return { map: Object.entries(v).map(([k, x]) => [{ str: k }, describe(x)]) };
}

function corpus() {
  const ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, Number.MAX_SAFE_INTEGER,
    -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, Number.MIN_SAFE_INTEGER];
  const bigints = [0n, 1n, -1n, 9223372036854775807n, -9223372036854775808n, 18446744073709551615n, 9007199254740993n];
  // No -0 here: the encoder writes it as the integer 0 (the C# → node direction covers -0.0).
  const floats = [0.5, Number.EPSILON, Number.MIN_VALUE, Number.MAX_VALUE, Infinity, -Infinity, NaN, 1e300, 0.1];
  const strings = [0, 31, 32, 255, 256, 65535, 65536].map((n) => "s".repeat(n))
    .concat(["héllo wörld ✓", "日本語テキスト", "emoji 🎉🚀", "\u0000nul", "\uffff"]);
  const bins = [0, 1, 255, 256, 65535, 65536].map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff));
  const arrays = [[], Array.from({ length: 15 }, (_, i) => i), Array.from({ length: 16 }, (_, i) => 0 - i),
    Array.from({ length: 65536 }, (_, i) => i & 0x7f)];
  const maps = [{}, Object.fromEntries(Array.from({ length: 16 }, (_, i) => ["k" + i, i])),
    { "ключ": "значение", "鍵": [1, { nested: true }] }];
  const exts = [1, 2, 4, 8, 16, 0, 3, 255, 256, 65536].map((n) => new ExtData(7, Uint8Array.from({ length: n }, (_, i) => i & 0xff)));
  const times = [new TimeSpec(0, 0), new TimeSpec(4294967295, 0), new TimeSpec(1, 1), new TimeSpec(17179869183, 999999999),
    new TimeSpec(17179869184, 0), new TimeSpec(-1, 0), new TimeSpec(-62135596800, 0), new TimeSpec(253402300799, 999999900),
    new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678))];
  let deep = "bottom";
  for (let i = 0; i < 30; i++) deep = [deep];
  return [null, true, false, ...ints, ...bigints, ...floats, ...strings, ...bins, ...arrays, ...maps, ...exts, ...times, deep];
}

// Values the C# test reads back through typed formatters.
function typed() {
  return [1n, -1n, 9007199254740993n, "héllo", new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678)), [1, 2, 3], { a: 1, b: 2 },
    Uint8Array.of(1, 2, 3), 2.5, 4294967296];
}

const [mode, dataPath, jsonPath, typedPath] = process.argv.slice(2);
if (mode === "decode") {
  const decoder = new Decoder({ useBigInt64: true, extensionCodec, maxStrLength: 1 << 30, maxBinLength: 1 << 30,
    maxArrayLength: 1 << 30, maxMapLength: 1 << 30, maxExtLength: 1 << 30 });
  const values = [...decoder.decodeMulti(readFileSync(dataPath))];
  writeFileSync(jsonPath, JSON.stringify(values.map(describe)));
} else if (mode === "encode") {
  const encoder = new Encoder({ useBigInt64: true, extensionCodec });
  const values = corpus();
  writeFileSync(dataPath, Buffer.concat(values.map((v) => encoder.encode(v))));
  writeFileSync(jsonPath, JSON.stringify(values.map(describe)));
  if (typedPath) writeFileSync(typedPath, Buffer.concat(typed().map((v) => encoder.encode(v))));
} else {
  console.error("usage: node crosscheck.mjs decode|encode <msgpack file> <json file> [typed file]");
  process.exit(2);
}
