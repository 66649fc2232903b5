import Base

/// Reading a lineage's keys, certificates and state without following a link out of it.
/// certbot lays out `live/<name>/<kind>.pem` as links to `../../archive/<name>/<kind>N.pem`;
/// those links are read (never followed blindly) and the archive file is opened with no link
/// followed below `archive/`, so a key file replaced by a link to a key elsewhere is refused
/// instead of being printed as a TLSA record or certified by the next renewal.
extension Lineage {
    /// `<config-dir>/archive`: the tree below which nothing of a lineage is read through a link.
    public var archiveRoot: String { configDirectory + "/archive" }

    /// The text of `live/<name>/<kind>.pem` (`kind`: cert, chain, fullchain, privkey).
    public func readLive(_ kind: String) throws -> String {
        let path = "\(livePath)/\(kind).pem"
        // readlink fails on anything but a link (or a link it cannot read, which the no-follow
        // read then refuses): one call where lstat + readlink were two.
        guard let target = FS.readLink(path) else { return try FS.readNoFollow(path, below: configDirectory + "/live") }
        let relative = "../../archive/\(name)/", absolute = archivePath + "/"
        let file = target.hasPrefix(relative) ? target.dropFirst(relative.count)
            : target.hasPrefix(absolute) ? target.dropFirst(absolute.count) : ""
        guard LineageStore.versionNumber(String(file), kind: kind) != nil else {
            throw CertStoreError(.unsafeLineage, "\(path) points at \(target.excerpt(120)), not at \(relative)\(kind)N.pem; acme reads a lineage's keys and certificates only from its own archive: point the link back at the lineage's archive, or restore the lineage from a backup")
        }
        return try readArchived(String(file))
    }

    /// The text of `archive/<name>/<file>`: a regular file, no link followed below `archive/`.
    public func readArchived(_ file: String, limit: Int = FS.maxFileSize) throws -> String {
        try FS.readNoFollow("\(archivePath)/\(file)", below: archiveRoot, limit: limit)
    }
}
