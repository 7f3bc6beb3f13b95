import Foundation
import LowbitFormats
import LowbitModels
import LowbitQuant
import Testing
@testable import LowbitConvert

/// Whole conversions of a tiny synthetic checkpoint: HF -> GGUF -> HF, failures, sharding, verify.
@Suite struct ConversionEndToEndTests {
    @Test func huggingFaceToGGUFAndBackIsExact() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let gguf = model.root + "/model-bf16.gguf"
        let back = model.root + "/back"
        try TinyCheckpoint.convert(hf, to: gguf, target: .gguf(.uniform(.bf16)))
        try TinyCheckpoint.convert(gguf, to: back, target: .float(.BF16))

        // The GGUF file: llama.cpp names, Q/K rows in GGUF rotary order, norms in F32, metadata.
        let g = try ModelFile.open(gguf)
        #expect(g.metadataValue("general.architecture")?.stringValue == "llama")
        #expect(g.metadataValue("llama.block_count")?.intValue == model.layers)
        #expect(g.metadataValue("llama.attention.head_count_kv")?.intValue == model.kvHeads)
        #expect(g.metadataValue("general.file_type")?.intValue == 32)
        #expect(g.metadataValue("tokenizer.ggml.pre")?.stringValue != nil)
        #expect((g.metadataValue("tokenizer.ggml.tokens")?.arrayValue?.count ?? 0) == model.vocab)
        #expect(g.tensor(named: "blk.0.attn_norm.weight")?.type == .ggml(.f32))
        #expect(g.tensor(named: "blk.0.attn_q.weight")?.type == .ggml(.bf16))
        #expect(g.tensors.count == model.tensorShapes.count)
        let headDim = model.hidden / model.heads
        for (ggufName, hfName, heads) in [("blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", model.heads),
                                          ("blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", model.kvHeads)] {
            let t = try #require(g.tensor(named: ggufName))
            let stored = try TensorDecoder.decode(t, from: g)
            let original = model.values(of: hfName, count: t.elementCount)
            let p = try RotaryPermutation(rows: heads * headDim, heads: heads)
            let width = model.hidden
            for row in 0..<(heads * headDim) {
                let from = p.hfRow(forGGUFRow: row)
                #expect(Array(stored[(row * width)..<((row + 1) * width)]) == Array(original[(from * width)..<((from + 1) * width)]))
            }
        }

        // Back in Hugging Face layout: every tensor equal to the original, bit for bit.
        let values = try TinyCheckpoint.decodeAll(back)
        #expect(values.count == model.tensorShapes.count)
        for (name, shape) in model.tensorShapes {
            #expect(values[name] == model.values(of: name, count: shape.reduce(1, *)), "\(name)")
        }
        let fm = FileManager.default
        for file in ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"] {
            #expect(fm.fileExists(atPath: back + "/" + file), "\(file)")
        }
        let config = try JSONValue.read(file: back + "/config.json")
        #expect(config["num_key_value_heads"]?.intValue == model.kvHeads)
        #expect(config["vocab_size"]?.intValue == model.vocab)
        #expect(TinyCheckpoint.temporaries(in: model.root).isEmpty)
    }

    @Test func ggufToF16DirectoryNamesItsDtype() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let gguf = model.root + "/m.gguf"
        let back = model.root + "/back-f16"
        try TinyCheckpoint.convert(hf, to: gguf, target: .gguf(.uniform(.f32)))
        try TinyCheckpoint.convert(gguf, to: back, target: .float(.F16))
        let config = try JSONValue.read(file: back + "/config.json")
        #expect(config["torch_dtype"]?.stringValue == "float16")
        let source = try ModelFile.open(back)
        #expect(source.tensors.allSatisfy { $0.type == .safetensors(.F16) })
        let tokenizer = try JSONValue.read(file: back + "/tokenizer.json")
        #expect(tokenizer["model"]?["type"]?.stringValue == "BPE")
    }

    @Test func quantizedGGUFDecodesCloseToTheSource() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let out = model.root + "/q8.gguf"
        let summary = try TinyCheckpoint.convert(hf, to: out, target: .gguf(.uniform(.q8_0)))
        #expect(summary.tensors.count == model.tensorShapes.count)
        let g = try ModelFile.open(out)
        let down = try #require(g.tensor(named: "blk.0.ffn_down.weight"))
        #expect(down.type == .ggml(.q8_0))
        let decoded = try TensorDecoder.decode(down, from: g)
        let original = model.values(of: "model.layers.0.mlp.down_proj.weight", count: down.elementCount)
        let maxError = zip(decoded, original).map { abs($0 - $1) }.max() ?? 0
        #expect(maxError <= 0.1 / 127 * 1.01)  // half a Q8_0 step for |w| <= 0.1 (a bit more for the F16 scale)
        #expect(try Verifier(path: out).run().problems.isEmpty)
    }

    @Test(arguments: ["gguf", "dir"])
    func nonFiniteWeightStopsTheConversionAndLeavesNothing(_ kind: String) throws {
        var model = try TinyCheckpoint()
        model.poisonedTensor = "model.layers.1.mlp.up_proj.weight"
        defer { model.cleanUp() }
        let hf = try model.write()
        let out = model.root + (kind == "gguf" ? "/poisoned.gguf" : "/poisoned-int4")
        let target: ConversionTarget = kind == "gguf" ? .gguf(.uniform(.q8_0))
            : .int(IntGroupQuantizer(bits: 4, groupSize: 64, convention: .compressedTensors(symmetric: true)), layout: .compressedTensors)
        do {
            try TinyCheckpoint.convert(hf, to: out, target: target)
            Issue.record("a NaN weight was converted")
        } catch let error as ConvertError where error.kind == .nonFiniteWeights {
            #expect(error.item == "model.layers.1.mlp.up_proj.weight")
            #expect(error.file.hasSuffix(".safetensors"))
            #expect(error.reason.hasPrefix("1 NaN and 0 Inf values"))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(TinyCheckpoint.temporaries(in: model.root) == [])
    }

    @Test func shardedDirectoryIndexListsEveryTensor() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let out = model.root + "/fp8-sharded"
        let summary = try TinyCheckpoint.convert(hf, to: out, target: .fp8(FP8Quantizer())) { $0.maxShardSize = 60_000 }
        let index = try JSONValue.read(file: out + "/model.safetensors.index.json")
        guard case .object(let map)? = index["weight_map"] else { Issue.record("no weight_map"); return }
        let shardFiles = Set(map.compactMap { $0.value.stringValue })
        #expect(shardFiles.count > 2)
        let expected = Set(summary.plan.jobs.flatMap(\.outputs).map(\.name))
        #expect(Set(map.map(\.key)) == expected)
        var total = 0
        for file in shardFiles {
            #expect(file.hasPrefix("model-") && file.hasSuffix("-of-\(String(format: "%05d", shardFiles.count)).safetensors"))
            let shard = try ModelFile.open(out + "/" + file)
            for t in shard.tensors {
                #expect(map.first { $0.key == t.name }?.value.stringValue == file, "\(t.name) in \(file)")
                total += t.byteCount
            }
        }
        #expect(index["metadata"]?["total_size"]?.intValue == total)
        // The whole checkpoint reads back through the index, and config.json describes the quantization.
        let all = try ModelFile.open(out)
        #expect(Set(all.tensors.map(\.name)) == expected)
        let config = try JSONValue.read(file: out + "/config.json")
        #expect(config["quantization_config"]?["quant_method"]?.stringValue == "compressed-tensors")
        #expect(config["quantization_config"]?["format"]?.stringValue == "float-quantized")
        #expect(try Verifier(path: out).run().problems.isEmpty)
    }

    @Test func verifyRejectsACorruptedFile() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let out = model.root + "/f16.gguf"
        try TinyCheckpoint.convert(hf, to: out, target: .gguf(.uniform(.f16)))
        #expect(try Verifier(path: out).run().problems.isEmpty)
        #expect(try Verifier(path: hf).run().problems.isEmpty)

        // An F16 NaN (0x7E00) inside one tensor's data.
        let g = try ModelFile.open(out)
        let target = try #require(g.tensor(named: "blk.1.ffn_up.weight"))
        let handle = try #require(FileHandle(forUpdatingAtPath: out))
        try handle.seek(toOffset: UInt64(target.offset + 10))
        try handle.write(contentsOf: Data([0x00, 0x7E]))
        try handle.close()
        let problems = try Verifier(path: out).run().problems
        #expect(problems.count == 1)
        #expect(problems.first?.tensor == "blk.1.ffn_up.weight")

        // A truncated file does not even open.
        let truncated = model.root + "/truncated.gguf"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        try bytes.prefix(bytes.count - 4096).write(to: URL(fileURLWithPath: truncated))
        #expect(throws: (any Error).self) { try Verifier(path: truncated).run() }
    }

    @Test func compressedTensorsInt4DirectoryRoundTripsThroughTheDecoder() throws {
        let model = try TinyCheckpoint()
        defer { model.cleanUp() }
        let hf = try model.write()
        let out = model.root + "/int4"
        let q = IntGroupQuantizer(bits: 4, groupSize: 64, convention: .compressedTensors(symmetric: true))
        let summary = try TinyCheckpoint.convert(hf, to: out, target: .int(q, layout: .compressedTensors)) {
            $0.measureError = true
        }
        let source = try ModelFile.open(out)
        let name = "model.layers.0.mlp.gate_proj"
        let packed = try #require(source.tensor(named: name + ".weight_packed"))
        #expect(packed.type == .safetensors(.I32))
        #expect(packed.rowMajorShape == [model.ffn, model.hidden / 8])
        #expect(source.tensor(named: name + ".weight_scale")?.rowMajorShape == [model.ffn, model.hidden / 64])
        // Unquantized tensors are the source bytes.
        let embed = try #require(source.tensor(named: "model.embed_tokens.weight"))
        #expect(try TensorDecoder.decode(embed, from: source) == model.values(of: "model.embed_tokens.weight", count: embed.elementCount))
        // Error metrics (asked for) were measured for every quantized tensor, and are sane for 4 bits.
        let measured = summary.tensors.compactMap(\.error)
        #expect(measured.count == model.layers * 7)
        #expect(measured.allSatisfy { $0.snrDB > 15 && $0.snrDB < 30 })
        let config = try JSONValue.read(file: out + "/config.json")
        let qc = try #require(config["quantization_config"])
        #expect(qc["format"]?.stringValue == "pack-quantized")
        #expect(qc["quantization_status"]?.stringValue == "compressed")
        #expect(qc["ignore"]?.arrayValue?.contains(.string("lm_head")) == true)
        #expect(qc["config_groups"]?["group_0"]?["weights"]?["num_bits"]?.intValue == 4)
        #expect(qc["config_groups"]?["group_0"]?["weights"]?["group_size"]?.intValue == 64)
    }
}
