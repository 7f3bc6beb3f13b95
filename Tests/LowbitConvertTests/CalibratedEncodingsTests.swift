import Foundation
import LowbitFormats
@testable import LowbitConvert
import LowbitModels
import LowbitQuant
import LowbitTestSupport
import Testing

/// The converter seam for calibrated methods: a job with an INT layout packs the codes, scales
/// and offsets a ``CalibratedEncodings`` holds instead of rounding, in the output's row order.
@Suite struct CalibratedEncodingsTests {
    static func dequantized(_ dir: String, _ name: String) throws -> [Float] {
        let view = try QuantizedCheckpointView(try ModelFile.open(dir))
        return try TensorDecoder.decode(try #require(view.tensor(named: name)), from: view)
    }

    /// Values that rounding the source would never produce: the calibrated result is the
    /// rounding of `values × 0.5` (so the check cannot pass by rounding the source).
    static func halved(_ values: [Float]) -> [Float] { values.map { $0 * 0.5 } }

    @Test(arguments: [false, true])
    func precomputedResultIsPackedInsteadOfRounding(mlx: Bool) throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let convention: IntGroupQuantizer.Convention = mlx ? .mlxAffine : .compressedTensors(symmetric: false)
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: convention)
        let name = "model.layers.0.self_attn.o_proj.weight"
        let (rows, columns) = (model.hidden, model.hidden)
        let expected = q.quantize(Self.halved(model.values(of: name, count: rows * columns)), rowLength: columns)
        let store = try SpilledEncodings(method: "gptq", weightsArguments: [("actorder", .string("weight"))], output: model.root + "/out")
        try store.store(expected, for: name, quantizer: q, rows: rows, columns: columns)
        #expect(FileManager.default.fileExists(atPath: store.directory))
        let out = model.root + "/out"
        try TinyCheckpoint.convert(hf, to: out, target: .int(q, layout: mlx ? .mlx : .compressedTensors)) {
            $0.calibratedEncodings = store
        }
        #expect(try Self.dequantized(out, name) == q.dequantize(expected, rowLength: columns))
        // Other weights are rounded as usual.
        let other = "model.layers.0.self_attn.v_proj.weight"
        let otherValues = model.values(of: other, count: 32 * model.hidden)
        #expect(try Self.dequantized(out, other) == q.dequantize(q.quantize(otherValues, rowLength: model.hidden), rowLength: model.hidden))
        if !mlx {
            // Only the calibrated module's config group says actorder "weight".
            let config = try JSONValue.read(file: out + "/config.json")
            guard case .object(let groups)? = config["quantization_config"]?["config_groups"] else {
                Issue.record("no config groups"); return
            }
            let calibrated = groups.filter { $0.value["weights"]?["actorder"]?.stringValue == "weight" }
            #expect(calibrated.count == 1)
            #expect(calibrated.first?.value["targets"]?.arrayValue?.compactMap(\.stringValue) == ["model.layers.0.self_attn.o_proj"])
        }
        store.remove()
        #expect(!FileManager.default.fileExists(atPath: store.directory))
        #expect(TinyCheckpoint.temporaries(in: model.root).isEmpty)
    }

    /// GGUF in, Hugging Face out: a result made in the GGUF file's row order (as a model loaded
    /// from the GGUF calibrates) lands in Hugging Face row order.
    @Test func rotaryRowsFollowTheOutputOrder() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let gguf = model.root + "/m.gguf"
        try TinyCheckpoint.convert(hf, to: gguf, target: .gguf(.uniform(.bf16)))
        let g = try ModelFile.open(gguf)
        let q = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true))
        let store = try SpilledEncodings(method: "gptq", output: model.root + "/out")
        defer { store.remove() }
        let cases = [("blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight"),
                     ("blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight")]
        for (ggufName, _) in cases {
            let t = try #require(g.tensor(named: ggufName))
            let stored = try TensorDecoder.decode(t, from: g)  // GGUF row order
            try store.store(q.quantize(Self.halved(stored), rowLength: t.rowLength), for: ggufName, quantizer: q,
                            rows: t.rowCount, columns: t.rowLength)
        }
        let out = model.root + "/out"
        try TinyCheckpoint.convert(gguf, to: out, target: .int(q, layout: .compressedTensors)) { $0.calibratedEncodings = store }
        for (_, hfName) in cases {
            let rows = hfName.contains("q_proj") ? model.hidden : model.kvHeads * model.hidden / model.heads
            // Rounding is row by row, so rounding the HF-ordered values gives the HF-ordered result.
            let original = Self.halved(model.values(of: hfName, count: rows * model.hidden))
            #expect(try Self.dequantized(out, hfName) == q.dequantize(q.quantize(original, rowLength: model.hidden), rowLength: model.hidden),
                    "\(hfName)")
        }
    }

    @Test func resultOnAnotherGridIsRefusedNamingTheTensor() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let name = "model.layers.0.mlp.up_proj.weight"
        let g32 = IntGroupQuantizer(bits: 4, groupSize: 32, convention: .compressedTensors(symmetric: true))
        let g64 = IntGroupQuantizer(bits: 4, groupSize: 64, convention: .compressedTensors(symmetric: true))
        let store = try SpilledEncodings(method: "gptq", output: model.root + "/out")
        defer { store.remove() }
        try store.store(g32.quantize(model.values(of: name, count: model.ffn * model.hidden), rowLength: model.hidden),
                        for: name, quantizer: g32, rows: model.ffn, columns: model.hidden)
        #expect {
            try TinyCheckpoint.convert(hf, to: model.root + "/out", target: .int(g64, layout: .compressedTensors)) {
                $0.calibratedEncodings = store
            }
        } throws: { error in
            "\(error)".contains(name) && "\(error)".contains("g32")
        }
        #expect(!FileManager.default.fileExists(atPath: model.root + "/out"))
    }
}
