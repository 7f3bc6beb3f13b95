import Foundation
import LowbitFormats
import Testing
@testable import LowbitModels

/// A GGUF-like source holding only metadata: what the registry reads.
private struct MetadataOnlySource: TensorSource {
    var path = "test.gguf"
    var format = ModelFormat.gguf
    var metadata: [(key: String, value: MetadataValue)]
    var tensors: [TensorInfo] = []
    func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try body(UnsafeRawBufferPointer(start: nil, count: 0))
    }
    func release(_ tensor: TensorInfo) {}
}

/// The registry's one decision: which entry a config.json or GGUF belongs to, and what is refused.
@Suite struct ArchitectureRegistryTests {
    static func config(_ extra: [(String, JSONValue)]) -> JSONValue {
        .object([("hidden_size", .integer(64)), ("intermediate_size", .integer(128)), ("num_hidden_layers", .integer(2)),
                 ("num_attention_heads", .integer(4)), ("num_key_value_heads", .integer(2)), ("vocab_size", .integer(96))]
                + extra)
    }

    static let llamaKeys: [(key: String, value: MetadataValue)] = [
        ("general.architecture", .string("llama")), ("llama.block_count", .uint32(2)),
        ("llama.embedding_length", .uint32(64)), ("llama.feed_forward_length", .uint32(128)),
        ("llama.attention.head_count", .uint32(4)), ("llama.attention.head_count_kv", .uint32(2)),
    ]

    @Test func huggingFaceArchitecturesAndModelTypesResolveToLlama() throws {
        for extra: [(String, JSONValue)] in [[("architectures", .array([.string("LlamaForCausalLM")]))],
                                             [("architectures", .array([.string("MistralForCausalLM")]))],
                                             [("model_type", .string("mistral"))], [("model_type", .string("llama"))]] {
            #expect(ObjectIdentifier(try ArchitectureRegistry.entry(hfConfig: Self.config(extra), file: "c.json")) == ObjectIdentifier(Llama.self))
        }
    }

    @Test func unknownArchitectureNamesTheFileAndListsTheSupportedOnes() {
        let config = Self.config([("architectures", .array([.string("Qwen2ForCausalLM")]))])
        do {
            _ = try ArchitectureRegistry.hyperparameters(hfConfig: config, file: "/m/config.json")
            Issue.record("Qwen2 was accepted")
        } catch let e as FormatError {
            #expect(e.kind == .unsupportedModel && e.file == "/m/config.json")
            #expect(e.reason.contains("Qwen2ForCausalLM") && e.reason.contains("LlamaForCausalLM, MistralForCausalLM"))
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func ggufLlamaResolvesAndOtherArchitecturesAreListed() throws {
        let h = try ArchitectureRegistry.hyperparameters(gguf: MetadataOnlySource(metadata: Self.llamaKeys))
        #expect(h.layerCount == 2 && h.kvHeadCount == 2 && h.slidingWindow == nil)
        for arch in ["mistral", "qwen2"] {
            let source = MetadataOnlySource(metadata: [("general.architecture", .string(arch))])
            let error = #expect(throws: FormatError.self) { try ArchitectureRegistry.entry(gguf: source) }
            #expect(error?.reason == "unsupported architecture '\(arch)' (Lowbit handles llama)")
        }
    }

    @Test func mixtralIsLlamaWithExpertsAndIsRefused() {
        let source = MetadataOnlySource(metadata: Self.llamaKeys + [("llama.expert_count", .uint32(8))])
        let error = #expect(throws: FormatError.self) { try ArchitectureRegistry.hyperparameters(gguf: source) }
        #expect(error?.reason.hasPrefix("Mixtral (MoE) is not supported yet") == true)
    }

    @Test func mistralSlidingWindowIsReadAndDescribed() throws {
        let mistral = Self.config([("architectures", .array([.string("MistralForCausalLM")])), ("sliding_window", .integer(4096))])
        let h = try ArchitectureRegistry.hyperparameters(hfConfig: mistral, file: "c.json")
        #expect(h.slidingWindow == 4096)
        #expect(Llama.forwardPass(h, ropeLayout: .halfSplit).attention == .slidingWindow(4096))
        // null means none, and transformers' Llama ignores the key.
        let none = Self.config([("architectures", .array([.string("MistralForCausalLM")])), ("sliding_window", .null)])
        #expect(try ArchitectureRegistry.hyperparameters(hfConfig: none, file: "c.json").slidingWindow == nil)
        let llama = Self.config([("architectures", .array([.string("LlamaForCausalLM")])), ("sliding_window", .integer(8))])
        #expect(try ArchitectureRegistry.hyperparameters(hfConfig: llama, file: "c.json").slidingWindow == nil)
    }

    @Test func llamaForwardPassDescription() throws {
        let h = try ArchitectureRegistry.hyperparameters(
            hfConfig: Self.config([("model_type", .string("llama")), ("rms_norm_eps", .number(1e-5)),
                                   ("tie_word_embeddings", .bool(true))]), file: "c.json")
        let d = Llama.forwardPass(h, ropeLayout: .interleaved)
        #expect(d == ForwardPassDescription(norm: .rms(epsilon: 1e-5), ropeLayout: .interleaved, ropeScaling: .none,
                                            biases: .none, queryKeyNorm: false, activation: .swiGLU,
                                            attention: .causal, tiedEmbeddings: true))
        #expect(h.typePolicyFacts == TypePolicyFacts(layerCount: 2, queryHeadsPerKVHead: 2, expertCount: 0))
    }

    @Test func aBrokenJSONFileIsNamed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-broken-\(getpid()).json").path
        try Data("{\"a\": ".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(#expect(throws: FormatError.self) { try JSONValue.read(file: path) }?.file == path)
        #expect(#expect(throws: FormatError.self) { try JSONValue.read(file: path + ".missing") }?.file == path + ".missing")
    }
}
