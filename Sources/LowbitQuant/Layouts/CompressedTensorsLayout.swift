import LowbitFormats

/// One stored tensor of a quantized weight: what to declare in the output plan and its bytes
/// (little-endian, as the `safetensors` package reads them).
package struct QuantizedTensorPart: Sendable, Equatable {
    /// The tensor's name, type and shape in the output plan.
    package var planned: PlannedTensor
    /// Its stored bytes.
    package var bytes: [UInt8]

    /// A part declared as `planned`, holding `bytes`.
    package init(planned: PlannedTensor, bytes: [UInt8]) {
        self.planned = planned
        self.bytes = bytes
    }
}

/// The tensors compressed-tensors (and so vLLM) expects for a quantized `Linear` weight, named
/// `<prefix>.<part>` where the unquantized checkpoint has `<prefix>.weight`.
///
/// - FP8 (`float-quantized`): `weight` (`F8_E4M3`, the original shape) and `weight_scale`
///   (`[1]` per tensor, `[rows, 1]` per channel, `[ceil(rows/128), ceil(cols/128)]` per block).
/// - INT (`pack-quantized`, 1...8 bits): `weight_packed` (`I32 [rows, ceil(cols*bits/32)]`, the
///   codes `q + 2^(bits-1)` of each row as a little-endian bit stream: element `i` at bits
///   `i*bits`), `weight_scale` (`[rows, cols/group]`), `weight_shape` (`I64 [2]` = rows, cols),
///   and for asymmetric schemes `weight_zero_point` (`I32 [ceil(rows*bits/32), cols/group]`:
///   the int8 zero points `+ 2^(bits-1)` packed the same way but down the columns,
///   compressed-tensors' `pack_to_int32(zero_point, bits, packed_dim=0)`).
///
/// Scales use the checkpoint's float dtype in compressed-tensors (`initialize_qparams`: the
/// observed weight dtype; F16 when that is not a float type); here it is the quantizer's
/// `scaleFormat`.
public enum CompressedTensorsLayout {
    /// The compressed-tensors `format` string of an INT quantizer (`pack-quantized`).
    public static let packedFormat = "pack-quantized"
    /// The compressed-tensors `format` string of FP8 weights (`float-quantized`).
    public static let floatFormat = "float-quantized"

    /// The safetensors dtype that stores values of a float format used for scales.
    package static func dtype(of format: FloatFormat) -> SafetensorsDType {
        switch format {
        case .f32: .F32
        case .f16: .F16
        case .bf16: .BF16
        case .f64: .F64
        case .f8e4m3: .F8_E4M3
        case .f8e5m2: .F8_E5M2
        case .f8e8m0: .F8_E8M0
        }
    }

    /// The module a weight belongs to, which names its parts: `a.b.weight` -> `a.b`.
    public static func prefix(of name: String) -> String {
        name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : name
    }

    // MARK: INT pack-quantized

    /// The tensors of an INT weight, in the order the parts are listed above.
    public static func plan(prefix: String, rows: Int, columns: Int,
                            quantizer q: IntGroupQuantizer) -> [PlannedTensor] {
        let groups = q.groupsPerRow(rowLength: columns)
        var plan = [
            PlannedTensor(name: prefix + ".weight_packed", type: .safetensors(.I32),
                          shape: [rows, q.wordsPerRow(rowLength: columns)]),
            PlannedTensor(name: prefix + ".weight_scale", type: .safetensors(dtype(of: q.scaleFormat)),
                          shape: [rows, groups]),
            PlannedTensor(name: prefix + ".weight_shape", type: .safetensors(.I64), shape: [2]),
        ]
        if q.hasOffsets {
            plan.append(PlannedTensor(name: prefix + ".weight_zero_point", type: .safetensors(.I32),
                                      shape: [BitPacking.wordCount(codes: rows, bits: q.bits), groups]))
        }
        return plan
    }

    /// All tensors of an INT weight quantized as a whole (``IntGroupQuantizer/quantize(_:rowLength:importance:)``).
    package static func parts(prefix: String, rows: Int, columns: Int, quantizer q: IntGroupQuantizer,
                             result: IntGroupQuantizer.Result) -> [QuantizedTensorPart] {
        guard case .compressedTensors = q.convention else {
            preconditionFailure("compressed-tensors parts need a compressed-tensors quantizer")
        }
        let plan = plan(prefix: prefix, rows: rows, columns: columns, quantizer: q)
        var parts = [
            QuantizedTensorPart(planned: plan[0], bytes: littleEndianBytes(result.packed)),
            QuantizedTensorPart(planned: plan[1], bytes: q.scaleFormat.encode(result.scales)),
            QuantizedTensorPart(planned: plan[2], bytes: shapeBytes(rows: rows, columns: columns)),
        ]
        if let zeroPoints = result.offsets {
            parts.append(QuantizedTensorPart(
                planned: plan[3],
                bytes: littleEndianBytes(packZeroPoints(zeroPoints, rows: rows, groups: q.groupsPerRow(rowLength: columns),
                                                        bits: q.bits))))
        }
        return parts
    }

    /// `weight_zero_point` words: zero points (integers in `[-2^(b-1), 2^(b-1))`, row-major
    /// `[rows, groups]`) offset by `2^(b-1)` and packed down each column.
    package static func packZeroPoints(_ zeroPoints: [Float], rows: Int, groups: Int, bits: Int) -> [UInt32] {
        let half = Float(1 << (bits - 1))
        let codes = zeroPoints.map { UInt8(truncatingIfNeeded: Int($0 + half)) }
        return BitPacking.packColumns(codes, rows: rows, columns: groups, bits: bits)
    }

    /// The inverse of ``packZeroPoints(_:rows:groups:bits:)``.
    package static func unpackZeroPoints(_ words: [UInt32], rows: Int, groups: Int, bits: Int) -> [Float] {
        let half = Float(1 << (bits - 1))
        return BitPacking.unpackColumns(words, rows: rows, columns: groups, bits: bits).map { Float($0) - half }
    }

    /// `weight_shape`: two little-endian int64 values.
    package static func shapeBytes(rows: Int, columns: Int) -> [UInt8] {
        littleEndianBytes([Int64(rows), Int64(columns)])
    }

    // MARK: FP8 float-quantized

    /// The tensors of an FP8 weight: `weight` and `weight_scale`.
    public static func plan(prefix: String, rows: Int, columns: Int, quantizer q: FP8Quantizer) -> [PlannedTensor] {
        [
            PlannedTensor(name: prefix + ".weight", type: .safetensors(q.variant.dtype), shape: [rows, columns]),
            PlannedTensor(name: prefix + ".weight_scale", type: .safetensors(dtype(of: q.scaleFormat)),
                          shape: q.scaleShape(rows: rows, columns: columns)),
        ]
    }

    /// Both tensors of an FP8 weight quantized as a whole.
    package static func parts(prefix: String, rows: Int, columns: Int, quantizer q: FP8Quantizer,
                             result: FP8Quantizer.Result) -> [QuantizedTensorPart] {
        let plan = plan(prefix: prefix, rows: rows, columns: columns, quantizer: q)
        return [
            QuantizedTensorPart(planned: plan[0], bytes: result.codes),
            QuantizedTensorPart(planned: plan[1], bytes: q.scaleFormat.encode(result.scales)),
        ]
    }

    // MARK: Bytes

    /// The little-endian bytes of fixed-width integers (packed words, shapes).
    package static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
        for v in values {
            var le = v.littleEndian
            withUnsafeBytes(of: &le) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}
