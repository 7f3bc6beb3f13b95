import LowbitFormats
import Testing
@testable import LowbitConvert

/// The per-tensor type choices of llama.cpp's quantizer (`llama_tensor_get_type`), on the
/// tensors of a Llama model in GGUF file order.
@Suite struct GGUFTypePolicyTests {
    /// GGUF names and `ne` shapes of a Llama model (Llama-3-8B shapes by default), in the order
    /// llama.cpp's loader visits them.
    static func llamaTensors(layers: Int, hidden: Int = 4096, ffn: Int = 14336, kv: Int = 1024,
                             vocab: Int = 1000, tied: Bool = false) -> [(name: String, shape: [Int])] {
        var list: [(String, [Int])] = [("token_embd.weight", [hidden, vocab]), ("output_norm.weight", [hidden])]
        if !tied { list.append(("output.weight", [hidden, vocab])) }
        for i in 0..<layers {
            let p = "blk.\(i)."
            list += [
                (p + "attn_k.weight", [hidden, kv]), (p + "attn_norm.weight", [hidden]),
                (p + "attn_output.weight", [hidden, hidden]), (p + "attn_q.weight", [hidden, hidden]),
                (p + "attn_v.weight", [hidden, kv]), (p + "ffn_down.weight", [ffn, hidden]),
                (p + "ffn_gate.weight", [hidden, ffn]), (p + "ffn_norm.weight", [hidden]),
                (p + "ffn_up.weight", [hidden, ffn]),
            ]
        }
        return list.sorted { GGUFTensorOrder.precedes($0.0, $1.0) }
    }

    /// Runs the policy over the tensors in order; returns the chosen type and reason per name.
    static func choices(_ target: GGUFTarget, _ tensors: [(name: String, shape: [Int])], layers: Int,
                        gqa: Int = 4, configure: (inout GGUFTypePolicy) throws -> Void = { _ in })
        throws -> [String: (type: GGMLType, reason: TypeChoiceReason)] {
        var policy = GGUFTypePolicy(target: target, tensorNames: tensors.map(\.name), layerCount: layers, queryHeadsPerKVHead: gqa)
        try configure(&policy)
        var out: [String: (GGMLType, TypeChoiceReason)] = [:]
        for t in tensors { out[t.name] = policy.choose(name: t.name, shape: t.shape, sourceType: .bf16) }
        return out
    }

    /// llama.cpp's `use_more_bits(i, n)` for n = 32, written out by hand:
    /// i < 4, i >= 28, or (i - 4) % 3 == 2.
    static let moreBitsLayers32: Set<Int> = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]

    @Test func q4KMOn32Layers() throws {
        let c = try Self.choices(.q4_K_M, Self.llamaTensors(layers: 32), layers: 32)
        for i in 0..<32 {
            let expected: GGMLType = Self.moreBitsLayers32.contains(i) ? .q6_K : .q4_K
            #expect(c["blk.\(i).attn_v.weight"]?.type == expected, "attn_v layer \(i)")
            #expect(c["blk.\(i).ffn_down.weight"]?.type == expected, "ffn_down layer \(i)")
            for other in ["attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"] {
                #expect(c["blk.\(i).\(other).weight"]?.type == .q4_K, "\(other) layer \(i)")
            }
            #expect(c["blk.\(i).attn_norm.weight"]?.type == .bf16)
            #expect(c["blk.\(i).attn_norm.weight"]?.reason == .notQuantizable)
        }
        #expect(c["blk.6.ffn_down.weight"]?.reason == .mix)
        #expect(c["blk.5.ffn_down.weight"]?.reason == .defaultType)
        #expect(c["output.weight"]?.type == .q6_K)
        #expect(c["token_embd.weight"]?.type == .q4_K)  // not tied: the default type
        #expect(c["output_norm.weight"]?.type == .bf16)
    }

    @Test func q5KMAndQ4KS() throws {
        let m = try Self.choices(.q5_K_M, Self.llamaTensors(layers: 32), layers: 32)
        let s = try Self.choices(.q4_K_S, Self.llamaTensors(layers: 32), layers: 32)
        for i in 0..<32 {
            #expect(m["blk.\(i).ffn_down.weight"]?.type == (Self.moreBitsLayers32.contains(i) ? .q6_K : .q5_K))
            #expect(m["blk.\(i).attn_v.weight"]?.type == (Self.moreBitsLayers32.contains(i) ? .q6_K : .q5_K))
            #expect(m["blk.\(i).attn_q.weight"]?.type == .q5_K)
            // Q4_K_S: Q5_K for the first four attn_v and the first n/8 ffn_down.
            #expect(s["blk.\(i).attn_v.weight"]?.type == (i < 4 ? .q5_K : .q4_K))
            #expect(s["blk.\(i).ffn_down.weight"]?.type == (i < 4 ? .q5_K : .q4_K))
        }
        #expect(m["output.weight"]?.type == .q6_K)
        #expect(s["output.weight"]?.type == .q6_K)
    }

    @Test func tiedEmbeddingsTakeTheOutputRule() throws {
        let c = try Self.choices(.q4_K_M, Self.llamaTensors(layers: 8, tied: true), layers: 8)
        #expect(c["output.weight"] == nil)
        #expect(c["token_embd.weight"]?.type == .q6_K)
        // Uniform legacy types: output (or the tied embedding) still gets Q6_K when rows fit 256.
        let q40 = try Self.choices(.uniform(.q4_0), Self.llamaTensors(layers: 8, tied: true), layers: 8)
        #expect(q40["token_embd.weight"]?.type == .q6_K)
        #expect(q40["blk.0.ffn_down.weight"]?.type == .q4_0)
        let q80 = try Self.choices(.uniform(.q8_0), Self.llamaTensors(layers: 8), layers: 8)
        #expect(q80["output.weight"]?.type == .q8_0)
        #expect(q80["token_embd.weight"]?.type == .q8_0)
    }

    /// SmolLM2's 576-wide rows: K-quants do not fit, llama.cpp's substitutes are used.
    @Test func fallbacksForRowsThatAreNotMultiplesOf256() throws {
        let tensors = Self.llamaTensors(layers: 30, hidden: 576, ffn: 1536, kv: 192, vocab: 49152, tied: true)
        let c = try Self.choices(.q4_K_M, tensors, layers: 30, gqa: 3)
        let moreBits30: Set<Int> = Set((0..<30).filter { $0 < 3 || $0 >= 26 || ($0 - 3) % 3 == 2 })
        for i in 0..<30 {
            #expect(c["blk.\(i).attn_q.weight"]?.type == .q5_0)
            #expect(c["blk.\(i).attn_q.weight"]?.reason == .fallback(from: .q4_K))
            #expect(c["blk.\(i).attn_v.weight"]?.type == (moreBits30.contains(i) ? .q8_0 : .q5_0))
            // ffn_down rows are 1536 = 6 x 256 long: K-quants fit.
            #expect(c["blk.\(i).ffn_down.weight"]?.type == (moreBits30.contains(i) ? .q6_K : .q4_K))
        }
        #expect(c["token_embd.weight"]?.type == .q8_0)

        #expect(GGUFTypePolicy.fallback(for: .q4_K, rowLength: 576) == .q5_0)
        #expect(GGUFTypePolicy.fallback(for: .q5_K, rowLength: 576) == .q5_1)
        #expect(GGUFTypePolicy.fallback(for: .q6_K, rowLength: 576) == .q8_0)
        #expect(GGUFTypePolicy.fallback(for: .q4_K, rowLength: 512) == .q4_K)
        #expect(GGUFTypePolicy.fallback(for: .q4_K, rowLength: 40) == .f16)  // 40 is not a multiple of 32
        #expect(GGUFTypePolicy.fallback(for: .q8_0, rowLength: 48) == .f16)
    }

    @Test func tensorTypeAndKeepOverrides() throws {
        let tensors = Self.llamaTensors(layers: 32)
        let c = try Self.choices(.q4_K_M, tensors, layers: 32) { p in
            try p.addTensorTypeRule("attn_v=q8_0")
            try p.addTensorTypeRule(#"blk\.1\.ffn_up=q5_k"#)
            try p.addKeepPattern(#"blk\.2\.attn_q"#)
            p.outputTensorType = .q8_0
            p.tokenEmbeddingType = .q4_0
        }
        for i in 0..<32 { #expect(c["blk.\(i).attn_v.weight"]?.type == .q8_0) }
        if case .override = c["blk.0.attn_v.weight"]?.reason {} else { Issue.record("attn_v not reported as an override") }
        // The mix's ffn_down counter is untouched by the attn_v rule.
        for i in 0..<32 {
            #expect(c["blk.\(i).ffn_down.weight"]?.type == (Self.moreBitsLayers32.contains(i) ? .q6_K : .q4_K))
        }
        #expect(c["blk.1.ffn_up.weight"]?.type == .q5_K)
        #expect(c["blk.11.ffn_up.weight"]?.type == .q4_K)  // the regex is a search, but `blk\.1\.` needs the dot
        #expect(c["blk.2.attn_q.weight"]?.type == .bf16)
        #expect(c["blk.2.attn_q.weight"]?.reason == .override(#"--keep blk\.2\.attn_q"#))
        #expect(c["blk.3.attn_q.weight"]?.type == .q4_K)
        #expect(c["output.weight"]?.type == .q8_0)
        #expect(c["token_embd.weight"]?.type == .q4_0)
    }

    @Test func badRulesAreRejected() throws {
        var p = GGUFTypePolicy(target: .q4_K_M, tensorNames: [], layerCount: 1)
        #expect(throws: ConvertError.self) { try p.addTensorTypeRule("attn_v") }
        #expect(throws: ConvertError.self) { try p.addTensorTypeRule("attn_v=q9_9") }
        #expect(throws: ConvertError.self) { try p.addKeepPattern("(unclosed") }
    }

    @Test func floatTargetsDoNotMix() throws {
        let c = try Self.choices(.uniform(.f16), Self.llamaTensors(layers: 4), layers: 4)
        #expect(c["output.weight"]?.type == .f16)
        #expect(c["blk.0.ffn_down.weight"]?.type == .f16)
        #expect(c["blk.0.ffn_norm.weight"]?.type == .bf16)
    }

    @Test func fileTypesAreLlamaCppFtypes() throws {
        #expect(GGUFTarget.q4_K_M.fileType == 15)
        #expect(GGUFTarget.q4_K_S.fileType == 14)
        #expect(GGUFTarget.q5_K_M.fileType == 17)
        #expect(GGUFTarget.uniform(.q8_0).fileType == 7)
        #expect(GGUFTarget.uniform(.q4_0).fileType == 2)
        #expect(GGUFTarget(name: "Q4_K_M") == .q4_K_M)
        #expect(GGUFTarget(name: "q4_0") == .uniform(.q4_0))
        #expect(GGUFTarget(name: "fp8") == nil)
    }

    @Test func tensorOrderIsNumericByBlock() throws {
        let names = ["blk.10.attn_q.weight", "blk.2.ffn_up.weight", "output.weight", "blk.2.attn_k.weight", "token_embd.weight"]
        #expect(names.sorted(by: GGUFTensorOrder.precedes)
            == ["output.weight", "token_embd.weight", "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight"])
    }
}
