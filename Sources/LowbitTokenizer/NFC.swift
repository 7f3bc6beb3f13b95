import Foundation

extension String {
    /// The string in Unicode Normalization Form C (Foundation's canonical composition).
    var precomposedNFC: String { (self as NSString).precomposedStringWithCanonicalMapping }
}
