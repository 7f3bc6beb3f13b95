import LowbitFormats

extension CompressedTensorsLayout {
    /// The `weights` quantization arguments of a config group for an INT quantizer
    /// (compressed-tensors `QuantizationArgs`).
    public static func weightsArguments(_ q: IntGroupQuantizer) -> JSONValue {
        guard case .compressedTensors(let symmetric) = q.convention else {
            preconditionFailure("compressed-tensors arguments need a compressed-tensors quantizer")
        }
        return .object([
            ("num_bits", .integer(Int64(q.bits))),
            ("type", .string("int")),
            ("symmetric", .bool(symmetric)),
            ("group_size", .integer(Int64(q.groupSize))),
            ("strategy", .string("group")),
            ("block_structure", .null),
            ("dynamic", .bool(false)),
            ("actorder", .null),
            ("observer", .string(q.search == nil ? "minmax" : "mse")),
            ("observer_kwargs", .object([])),
        ])
    }

    /// The `weights` quantization arguments of a config group for an FP8 quantizer.
    public static func weightsArguments(_ q: FP8Quantizer) -> JSONValue {
        let strategy: String
        var block: JSONValue = .null
        switch q.granularity {
        case .tensor: strategy = "tensor"
        case .row: strategy = "channel"
        case .block(let r, let c):
            strategy = "block"
            block = .array([.integer(Int64(r)), .integer(Int64(c))])
        }
        return .object([
            ("num_bits", .integer(8)),
            ("type", .string("float")),
            ("symmetric", .bool(true)),
            ("group_size", .null),
            ("strategy", .string(strategy)),
            ("block_structure", block),
            ("dynamic", .bool(false)),
            ("actorder", .null),
            ("observer", .string(q.clipSearch == nil ? "minmax" : "mse")),
            ("observer_kwargs", .object([])),
        ])
    }

    /// A `quantization_config` for `config.json`: one config group targeting every `Linear`
    /// layer with weight-only quantization, status `compressed`.
    /// - Parameters:
    ///   - weights: from ``weightsArguments(_:)-(IntGroupQuantizer)``.
    ///   - format: ``packedFormat`` or ``floatFormat``.
    ///   - ignore: module names left unquantized (`lm_head` by default).
    public static func quantizationConfig(weights: JSONValue, format: String,
                                          ignore: [String] = ["lm_head"]) -> JSONValue {
        .object([
            ("quant_method", .string("compressed-tensors")),
            ("format", .string(format)),
            ("quantization_status", .string("compressed")),
            ("global_compression_ratio", .null),
            ("ignore", .array(ignore.map { .string($0) })),
            ("kv_cache_scheme", .null),
            ("config_groups", .object([
                ("group_0", .object([
                    ("targets", .array([.string("Linear")])),
                    ("weights", weights),
                    ("input_activations", .null),
                    ("output_activations", .null),
                    ("format", .string(format)),
                ])),
            ])),
        ])
    }
}
