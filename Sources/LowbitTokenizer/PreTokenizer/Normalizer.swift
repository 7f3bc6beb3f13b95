import Foundation

/// Text normalization applied before everything else (tokenizer.json `normalizer`).
enum Normalizer: Sendable, Equatable {
    case none
    /// Unicode canonical composition.
    case nfc

    func apply(_ text: String) -> String {
        switch self {
        case .none: text
        case .nfc: text.precomposedNFC
        }
    }
}

extension String {
    /// The string in Unicode Normalization Form C (Foundation's canonical composition).
    var precomposedNFC: String { (self as NSString).precomposedStringWithCanonicalMapping }
}
