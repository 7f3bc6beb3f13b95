import Foundation
import LowbitFormats
@testable import LowbitConvert
import LowbitQuant
import LowbitTestSupport

/// A tiny Llama-shaped Hugging Face checkpoint written into a fresh temporary directory:
/// `config.json`, a BF16 `model.safetensors` with deterministic values, and a tokenizer from
/// fixtures/tokenizer/. Conversion tests start from it.
struct TinyCheckpoint {
    var hidden = 64
    var heads = 4
    var kvHeads = 2
    var ffn = 128
    var layers = 2
    var vocab = 1280
    var tied = false
    /// Makes the value at index 5 of this tensor NaN.
    var poisonedTensor: String?

    /// The directory everything is written in (removed by ``cleanUp()``).
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "lowbit-convert-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: root) }

    var modelDirectory: String { root + "/hf" }

    /// The checkpoint's tensors, in file order: name and row-major shape.
    var tensorShapes: [(name: String, shape: [Int])] {
        var list: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, hidden])]
        let headDim = hidden / heads
        for i in 0..<layers {
            let p = "model.layers.\(i)."
            list += [
                (p + "input_layernorm.weight", [hidden]),
                (p + "self_attn.q_proj.weight", [heads * headDim, hidden]),
                (p + "self_attn.k_proj.weight", [kvHeads * headDim, hidden]),
                (p + "self_attn.v_proj.weight", [kvHeads * headDim, hidden]),
                (p + "self_attn.o_proj.weight", [hidden, heads * headDim]),
                (p + "post_attention_layernorm.weight", [hidden]),
                (p + "mlp.gate_proj.weight", [ffn, hidden]),
                (p + "mlp.up_proj.weight", [ffn, hidden]),
                (p + "mlp.down_proj.weight", [hidden, ffn]),
            ]
        }
        list.append(("model.norm.weight", [hidden]))
        if !tied { list.append(("lm_head.weight", [vocab, hidden])) }
        return list
    }

    /// Deterministic values of a tensor, already on the BF16 grid (so BF16 round trips are exact).
    func values(of name: String, count: Int) -> [Float] {
        var generator = LCG64(seed: UInt64(truncatingIfNeeded: name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }))
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let u = generator.nextUnitFloat() - 0.5  // [-0.5, 0.5)
            out[i] = name.contains("norm") ? 1 + u * 0.1 : u * 0.2
        }
        let rounded = FloatFormat.bf16.encode(out).withUnsafeBytes { FloatFormat.bf16.decode($0) }
        if name == poisonedTensor { var r = rounded; r[5] = .nan; return r }
        return rounded
    }

    /// Writes config.json, model.safetensors and the tokenizer files; returns the directory.
    @discardableResult
    func write() throws -> String {
        let dir = modelDirectory
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let shapes = tensorShapes
        let writer = try SafetensorsWriter(
            path: dir + "/model.safetensors",
            tensors: shapes.map { PlannedTensor(name: $0.name, type: .safetensors(.BF16), shape: $0.shape) },
            metadata: [("format", "pt")])
        for (name, shape) in shapes {
            try writer.append(FloatFormat.bf16.encode(values(of: name, count: shape.reduce(1, *))))
        }
        try writer.finish()
        let config = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": \(hidden),
             "intermediate_size": \(ffn), "num_hidden_layers": \(layers), "num_attention_heads": \(heads),
             "num_key_value_heads": \(kvHeads), "max_position_embeddings": 256, "rms_norm_eps": 1e-05,
             "rope_theta": 10000.0, "vocab_size": \(vocab), "tie_word_embeddings": \(tied),
             "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        try? FileManager.default.removeItem(atPath: dir + "/tokenizer.json")
        try FileManager.default.copyItem(atPath: Self.fixture("tiny-llama3.tokenizer.json"), toPath: dir + "/tokenizer.json")
        let tokenizerConfig = #"{"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "add_bos_token": true}"#
        try Data(tokenizerConfig.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
        return dir
    }

    /// A file of fixtures/tokenizer/.
    static func fixture(_ name: String) -> String {
        Fixtures.path("tokenizer/\(name)")
    }

    /// Converts `input` to `output` with the given target (and option tweaks).
    @discardableResult
    static func convert(_ input: String, to output: String, target: ConversionTarget,
                        configure: (inout ConversionOptions) throws -> Void = { _ in }) throws -> ConversionSummary {
        var options = ConversionOptions(target: target)
        try configure(&options)
        let plan = try ConversionPlan(input: try ModelInput(path: input), output: OutputKind(path: output), options: options)
        return try Converter(plan: plan).run()
    }

    /// Every tensor of a model decoded to F32, by name.
    static func decodeAll(_ path: String) throws -> [String: [Float]] {
        let source = try ModelFile.open(path)
        var out: [String: [Float]] = [:]
        for t in source.tensors where TensorDecoder.canDecode(t.type) {
            out[t.name] = try TensorDecoder.decode(t, from: source)
        }
        return out
    }

    /// Files in a directory whose names start with a dot and contain "lowbit" (temporaries).
    static func temporaries(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(".") && $0.contains("lowbit") }
    }
}
