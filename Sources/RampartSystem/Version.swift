/// rampart's version: the upstream part of debian/changelog's top entry, written by
/// scripts/version.sh --write (VersionTests fails when they differ).
public enum RampartVersion {
    public static let current = "0.2.0"
}
