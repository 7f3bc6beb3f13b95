import LowbitFormats
import Testing
@testable import LowbitModels

@Suite struct LlamaTensorNamesTests {
    static let pairs: [(hf: String, gguf: String)] = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
        ("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"),
        ("model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight"),
        ("model.layers.7.self_attn.v_proj.weight", "blk.7.attn_v.weight"),
        ("model.layers.12.self_attn.o_proj.weight", "blk.12.attn_output.weight"),
        ("model.layers.3.input_layernorm.weight", "blk.3.attn_norm.weight"),
        ("model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"),
        ("model.layers.31.mlp.gate_proj.weight", "blk.31.ffn_gate.weight"),
        ("model.layers.31.mlp.up_proj.weight", "blk.31.ffn_up.weight"),
        ("model.layers.125.mlp.down_proj.weight", "blk.125.ffn_down.weight"),
        ("model.layers.2.self_attn.q_proj.bias", "blk.2.attn_q.bias"),
    ]

    @Test func bothWays() {
        for (hf, gguf) in Self.pairs {
            #expect(Llama.tensorNames.ggufName(forHF: hf) == gguf)
            #expect(Llama.tensorNames.hfName(forGGUF: gguf) == hf)
        }
    }

    @Test func unknownNamesHaveNoCounterpart() {
        #expect(Llama.tensorNames.ggufName(forHF: "model.layers.0.self_attn.rotary_emb.inv_freq") == nil)
        #expect(Llama.tensorNames.ggufName(forHF: "model.layers.x.mlp.up_proj.weight") == nil)
        #expect(Llama.tensorNames.ggufName(forHF: "model.layers.0.mlp.up_proj.weight_scale") == nil)
        #expect(Llama.tensorNames.hfName(forGGUF: "rope_freqs.weight") == nil)
        #expect(Llama.tensorNames.hfName(forGGUF: "blk.0.attn_qkv.weight") == nil)
    }

    @Test func rotaryHeadsForQueryAndKeyOnly() {
        #expect(Llama.tensorNames.rotaryHeads(ggufName: "blk.4.attn_q.weight", heads: 32, kvHeads: 8) == 32)
        #expect(Llama.tensorNames.rotaryHeads(ggufName: "blk.4.attn_k.weight", heads: 32, kvHeads: 8) == 8)
        #expect(Llama.tensorNames.rotaryHeads(ggufName: "blk.4.attn_v.weight", heads: 32, kvHeads: 8) == nil)
        #expect(Llama.tensorNames.rotaryHeads(ggufName: "blk.4.attn_output.weight", heads: 32, kvHeads: 8) == nil)
    }
}

@Suite struct TensorNameTableTests {
    @Test func decoderLinearsAreTheLinearRolesWeights() {
        let names = Llama.tensorNames
        for role in TensorNameTable.Role.allCases {
            let hf = names.name(layer: 3, role, gguf: false)
            #expect(names.isDecoderLinear(hfName: hf) == role.isLinear, "\(hf)")
            #expect(names.role(of: hf) == role)
            #expect(names.role(of: names.name(layer: 3, role, gguf: true)) == role)
        }
        #expect(!names.isDecoderLinear(hfName: "model.layers.3.self_attn.q_proj.bias"))
        #expect(!names.isDecoderLinear(hfName: "lm_head.weight"))
        #expect(!names.isDecoderLinear(hfName: "model.layers.3.mlp.experts.0.up_proj.weight"))
    }

    @Test func aTableWithoutARoleDoesNotNameIt() {
        var layer = Llama.tensorNames.layer
        layer[.gate] = nil
        let table = TensorNameTable(layer: layer, global: Llama.tensorNames.global)
        #expect(table.roles == [.attentionNorm, .query, .key, .value, .attentionOutput, .feedForwardNorm, .up, .down])
        #expect(table.ggufName(forHF: "model.layers.0.mlp.gate_proj.weight") == nil)
        #expect(table.ggufName(forHF: "model.layers.0.mlp.up_proj.weight") == "blk.0.ffn_up.weight")
    }

    @Test func everyEntryNamesEveryGlobal() {
        for entry in ArchitectureRegistry.entries {
            for g in TensorNameTable.Global.allCases { #expect(entry.tensorNames.global[g] != nil, "\(entry.name) \(g)") }
        }
    }
}
