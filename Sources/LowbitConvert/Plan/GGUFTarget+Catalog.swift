import LowbitFormats
import LowbitQuant

extension GGUFTarget: CaseIterable {
    /// Every GGUF target Lowbit writes: the float types, then each block type with a codec (see
    /// ``GGUFCodecs/supportedTypes``), then llama.cpp's mixes. `--type` lists these.
    public static var allCases: [GGUFTarget] {
        let types = GGUFTarget.uniformTypes
        return (types.filter(\.isFloat) + types.filter { !$0.isFloat }).map { .uniform($0) }
            + [.q4_K_M, .q4_K_S, .q5_K_M]
    }

    /// The lower-case name `--type` takes and summaries print (`q4_k_m`, `q8_0`, `bf16`).
    public var name: String {
        switch self {
        case .uniform(let type): type.name.lowercased()
        case .q4_K_M: "q4_k_m"
        case .q4_K_S: "q4_k_s"
        case .q5_K_M: "q5_k_m"
        }
    }
}
