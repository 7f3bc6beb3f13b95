import LowbitFormats

/// compressed-tensors `float-quantized`: `X.weight` in FP8 and `X.weight_scale` (per tensor, row
/// or block; see ``CompressedTensorsLayout``).
public struct FP8Layout: WeightLayout {
    /// The quantizer that writes the codes and scales.
    public let quantizer: FP8Quantizer

    /// The layout of `quantizer`'s weights.
    public init(_ quantizer: FP8Quantizer) {
        self.quantizer = quantizer
    }

    public var name: String { "FP8_\(quantizer.variant == .e4m3 ? "E4M3" : "E5M2")" }
    public var isQuantized: Bool { true }

    public var stripRowMultiple: Int {
        if case .block(let r, _) = quantizer.granularity { return r }
        return 1
    }

    public var needsTensorAbsmax: Bool { quantizer.granularity == .tensor }

    public var configEntry: LayoutConfigEntry? {
        .compressedTensors(weights: CompressedTensorsLayout.weightsArguments(quantizer),
                           format: CompressedTensorsLayout.floatFormat)
    }

    public func plan(name: String, rows: Int, columns: Int, shape: [Int]) -> [PlannedTensor] {
        CompressedTensorsLayout.plan(prefix: CompressedTensorsLayout.prefix(of: name), rows: rows, columns: columns,
                                     quantizer: quantizer)
    }

    public func encode(_ values: [Float], rowLength width: Int, tensorAbsmax: Float?, importance: [Float]?, name: String,
                       trailer: inout LayoutTrailer) throws -> EncodedStrip {
        let q = quantizer
        let count = values.count
        let scaleCount = q.scaleShape(rows: count / width, columns: width).reduce(1, *)
        var codes = [UInt8](repeating: 0, count: count)
        var stripScales = [Float](repeating: 0, count: scaleCount)
        values.withUnsafeBufferPointer { src in
            codes.withUnsafeMutableBufferPointer { c in
                stripScales.withUnsafeMutableBufferPointer { s in
                    q.quantize(src, rowLength: width, tensorAbsmax: tensorAbsmax, codes: c, scales: s)
                }
            }
        }
        if q.granularity == .tensor {
            trailer.scales = [stripScales[0]]
        } else {
            trailer.scales += stripScales
        }
        return EncodedStrip(bytes: codes) { [codes, stripScales] d in
            codes.withUnsafeBufferPointer { c in
                stripScales.withUnsafeBufferPointer { q.dequantize(codes: c, scales: $0, rowLength: width, into: d) }
            }
        }
    }

    public func finish(_ trailer: LayoutTrailer, rows: Int, columns: Int) -> [[UInt8]] {
        [quantizer.scaleFormat.encode(trailer.scales)]
    }
}
