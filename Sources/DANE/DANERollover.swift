import ACMECrypto
import Base
import CertStore
import DNS
import FoundationEssentials
import Issuance

/// A lineage's DANE-safe key rollover (RFC 7671 §8.1, "current + next"): the record of the key
/// the next renewal will use is published beside the current one; that key is used only once
/// every authoritative server has served its record for twice the TTL (so no resolver can still
/// hold an answer without it); after the renewal the old key's record stays another two TTLs,
/// then goes. Each call does what is due now and returns; the state lives in `DANEState`, saved
/// after every step, so that cron-driven `acme renew` runs (or the daemon) carry it through, and
/// a run killed anywhere is continued by the next one. The served key is covered at every moment:
/// a key becomes live only as the `next` record, and a record is removed only once its key is not
/// live and two TTLs have passed.
public struct DANERollover: Sendable {
    public var lineage: Lineage
    public var settings: DANESettings
    /// The lineage reuses its key: nothing to roll over.
    public var reuseKey: Bool
    /// The key type the next renewal uses (the renewal conf's).
    public var keyType: KeyType
    public var progress: EventSink

    public init(lineage: Lineage, settings: DANESettings, reuseKey: Bool, keyType: KeyType, progress: @escaping EventSink) {
        self.lineage = lineage
        self.settings = settings
        self.reuseKey = reuseKey
        self.keyType = keyType
        self.progress = progress
    }

    /// Whether renewing may go ahead and with which key.
    public enum Decision: Sendable {
        /// Renew with this key (the prepared next key, whose record has been visible long enough);
        /// nil: the renewal's usual key choice (reuse, or DANE-TA where the leaf key is not pinned).
        case renew(key: PrivateKey?)
        /// Renew with the current key because waiting would let the certificate expire; `warning`
        /// becomes a `.warning` note of the run.
        case renewReusingKey(warning: String)
        /// Not yet: the next key's record is not (long enough) visible.
        case hold(until: Date, reason: String)
    }

    public struct Outcome: Sendable {
        /// Set when a renewal was asked for.
        public var decision: Decision?
        /// When the rollover next has something to do by itself (remove a record, see one become
        /// visible): a wake-up time for the daemon.
        public var nextStep: Date?
    }

    /// Whether the rollover needs renewals to wait at all (DANE-EE with a changing key).
    var rollsKeys: Bool { settings.usage == 3 && !reuseKey }

    /// Does what is due now; with `wantRenewal` also says whether the renewal may go ahead.
    /// `notBefore`/`notAfter` are the live certificate's (expiry forcing). `keepRetiring`: the
    /// endpoints are known not to serve the live certificate (the daemon rolled back), so old keys'
    /// records stay.
    public func advance(wantRenewal: Bool, notBefore: Date, notAfter: Date, now: Date, keepRetiring: Bool = false) throws -> Outcome {
        var state = try DANEState.read(lineage)
        let publisher = try DANEPublisher(settings: settings, lineage: lineage.name, progress: progress)
        let zones = ZoneCache(publisher: publisher)

        // 1. The live key is `current`; a `current` it replaced starts retiring.
        try adoptLive(&state, now: now)
        // 2. Retiring records whose time has come go (one owner at a time, saved after each).
        try removeDueRecords(&state, publisher: publisher, zones: zones, now: now, keepRetiring: keepRetiring)
        // 3. The next key's record, once no old record is still retiring.
        try prepareNext(&state, now: now)
        // A stale next record just turned retiring with removeAfter now: remove it in this run.
        try removeDueRecords(&state, publisher: publisher, zones: zones, now: now, keepRetiring: keepRetiring)
        // 4. Publish what is not published yet at every owner (an add of a present record is a no-op).
        try publishMissing(&state, publisher: publisher, zones: zones)
        // 5. Is the next record served by every authoritative server? Asked while the clock has
        // not started, and again right before it is relied on.
        let missing = try checkNext(&state, wantRenewal: wantRenewal, publisher: publisher, zones: zones, now: now)

        let timing = Timing(state: state, settings: settings, now: now, keepRetiring: keepRetiring)
        var outcome = Outcome(decision: nil, nextStep: timing.nextStep)
        guard wantRenewal else { return outcome }
        guard rollsKeys else {
            outcome.decision = .renew(key: nil)
            return outcome
        }
        if let readyAt = timing.readyAt, readyAt <= now, case .usable(let key) = try NextKey.read(lineage, type: keyType),
           Self.record(usage: 3, spki: try key.publicKeyDER()) == state.entry(.next)?.record {
            outcome.decision = .renew(key: key)
            return outcome
        }
        let (until, reason) = holdReason(state, timing: timing, missing: missing, now: now, keepRetiring: keepRetiring)
        // Never let the certificate expire for DANE: in the last tenth of its lifetime, renew with
        // the current key (its record is published) and postpone the key change.
        if LifetimePolicy.standard.isEmergency(notBefore: notBefore, notAfter: notAfter, now: max(now, until)) {
            outcome.decision = .renewReusingKey(warning: "\(lineage.name) expires \(notAfter.utcText) and is still \(reason); renewing with the current key, which its published TLSA record covers, and postponing the key change to the next renewal — check the TLSA records with acme tlsa --check --cert-name \(lineage.name)")
            return outcome
        }
        outcome.decision = .hold(until: until, reason: reason)
        outcome.nextStep = min(outcome.nextStep ?? until, until)
        return outcome
    }

    /// Each owner's zone, asked once per run.
    final class ZoneCache {
        let publisher: DANEPublisher
        var zones: [String: String] = [:]
        init(publisher: DANEPublisher) { self.publisher = publisher }

        func zone(_ owner: String) throws -> String {
            if let known = zones[owner] { return known }
            let found = try publisher.zone(of: owner)
            zones[owner] = found
            return found
        }
    }

    /// Step 1: the live key's record is `current` (a `current` it replaced starts retiring).
    func adoptLive(_ state: inout DANEState, now: Date) throws {
        let live = try liveRecord()
        if !state.entries.isEmpty, !state.entries.contains(where: { $0.record == live }) {
            progress(.warning("\(lineage.name): the live key has no published TLSA record (renewed outside acme's DANE rollover, e.g. by certbot?); publishing \(live.presentation) now — DANE senders may fail until it is visible"))
        }
        if state.adopt(live: live, now: now, holdTime: settings.holdTime) { try state.save(lineage) }
    }

    /// Step 2: retiring records whose time has come go (one owner at a time, saved after each).
    func removeDueRecords(_ state: inout DANEState, publisher: DANEPublisher, zones: ZoneCache, now: Date, keepRetiring: Bool) throws {
        for index in state.entries.indices.reversed() where state.entries[index].role == .retiring {
            guard let due = state.entries[index].removeAfter, due <= now, !keepRetiring else { continue }
            let record = state.entries[index].record
            for owner in state.entries[index].publishedAt {
                try publisher.change(.remove, record, owner: owner, zone: try zones.zone(owner), role: .retiring)
                state.entries[index].publishedAt.removeAll { $0 == owner }
                try state.save(lineage)
            }
            state.entries.remove(at: index)
            try state.save(lineage)
        }
    }

    /// Step 3: the next key (made when missing) and its record, once no old record is still retiring.
    func prepareNext(_ state: inout DANEState, now: Date) throws {
        if rollsKeys, !state.entries.contains(where: { $0.role == .retiring }) {
            let (key, created) = try NextKey.prepare(lineage, type: keyType)
            if created { progress("\(lineage.name): made the key for the next renewal (\(lineage.nextKeyPath), 0600)") }
            let record = Self.record(usage: 3, spki: try key.publicKeyDER())
            // A replaced next record (its key file was lost or replaced) retires at once: its key was never used.
            if state.setNext(record, now: now) { try state.save(lineage) }
        } else if !rollsKeys, state.setNext(nil, now: now) {
            try state.save(lineage)
        }
    }

    /// Step 4: every record that is not retiring, added at each owner where it is not yet.
    func publishMissing(_ state: inout DANEState, publisher: DANEPublisher, zones: ZoneCache) throws {
        for index in state.entries.indices where state.entries[index].role != .retiring {
            for owner in settings.owners where !state.entries[index].publishedAt.contains(owner) {
                try publisher.change(.add, state.entries[index].record, owner: owner, zone: try zones.zone(owner), role: state.entries[index].role)
                state.entries[index].publishedAt.append(owner)
                state.entries[index].visibleSince = nil
                try state.save(lineage)
            }
        }
    }

    /// Step 5: whether every authoritative server serves the next record; returns those that do not.
    func checkNext(_ state: inout DANEState, wantRenewal: Bool, publisher: DANEPublisher, zones: ZoneCache, now: Date) throws -> [String] {
        guard let index = state.index(.next), state.entries[index].visibleSince == nil || wantRenewal else { return [] }
        let missing = try invisible(state.entries[index].record, publisher: publisher, zone: zones.zone)
        let before = state.entries[index].visibleSince
        state.entries[index].visibleSince = missing.isEmpty ? (before ?? now) : nil
        if before != state.entries[index].visibleSince { try state.save(lineage) }
        return missing
    }

    /// When the records' next steps are due.
    struct Timing {
        /// When each retiring record goes (kept while the endpoints serve an older certificate: look again later, not at once).
        var removals: [Date]
        /// When the next key may be used (visible since + 2 × TTL); nil: not visible yet.
        var readyAt: Date?
        /// When the rollover next has something to do by itself.
        var nextStep: Date?

        init(state: DANEState, settings: DANESettings, now: Date, keepRetiring: Bool) {
            removals = keepRetiring ? state.entries.compactMap { $0.removeAfter.map { _ in now.addingTimeInterval(max(settings.holdTime, 600)) } }
                : state.entries.compactMap(\.removeAfter)
            readyAt = state.entry(.next)?.visibleSince.map { $0.addingTimeInterval(settings.holdTime) }
            nextStep = removals.min()
            if state.entry(.next) != nil, readyAt == nil {
                // Not visible yet: look again in a TTL (at least a minute apart when the TTL is long).
                let again = now.addingTimeInterval(Double(min(settings.ttl, 60)))
                nextStep = min(nextStep ?? again, again)
            }
        }
    }

    /// Until when a wanted renewal waits for the next key, and why.
    func holdReason(_ state: DANEState, timing: Timing, missing: [String], now: Date, keepRetiring: Bool) -> (until: Date, reason: String) {
        if let readyAt = timing.readyAt {
            let until = max(readyAt, now)
            return (until, "waiting for the DANE record of the next key: \(Self.duration(until.timeIntervalSince(now))) left (visible at every authoritative server since \(state.entry(.next)?.visibleSince?.utcText ?? "-"), waiting 2 × TTL \(settings.ttl) s)")
        } else if state.entries.contains(where: { $0.role == .retiring }) {
            let until = timing.removals.min() ?? now
            return (until, "waiting for the DANE record of the previous key to be retired before the next key's record is published: \(Self.duration(until.timeIntervalSince(now))) left" + (keepRetiring ? " (kept while the endpoints do not serve the newest certificate)" : ""))
        } else {
            let until = now.addingTimeInterval(Double(min(settings.ttl, 60)))
            let servers = missing.isEmpty ? "" : ": not visible at " + missing.joined(separator: ", ")
            return (until, "waiting for the DANE record of the next key (\(state.entry(.next)?.record.presentation ?? "-")) to be visible at every authoritative server\(servers); then 2 × TTL (\(2 * settings.ttl) s)")
        }
    }

    /// The record that covers what the live certificate presents: its key (3 1 1) or its issuer's (2 1 1).
    func liveRecord() throws -> TLSARecord {
        if settings.usage == 2 {
            let chain = try lineage.liveFullchain()
            guard chain.count > 1 else {
                throw IssuanceError(.unreadableLineage, "\(lineage.fullchainPath) holds no issuer certificate, so there is no 2 1 1 record to publish; use the default usage 3 (acme issue --dane without --dane-usage 2)")
            }
            return Self.record(usage: 2, spki: chain[1].publicKeyDER)
        }
        return Self.record(usage: 3, spki: try lineage.liveCertificate().publicKeyDER)
    }

    /// `<usage> 1 1`: SHA-256 over a SubjectPublicKeyInfo.
    public static func record(usage: UInt8, spki: [UInt8]) -> TLSARecord {
        TLSARecord(usage: usage, selector: 1, matching: 1, data: Digest.hex(Digest.sha256(spki)))
    }

    /// The authoritative servers (labels) of each owner's zone that do not serve `record` now.
    private func invisible(_ record: TLSARecord, publisher: DANEPublisher, zone: (String) throws -> String) throws -> [String] {
        var servers: [String: [TLSALookup]] = [:]
        var missing: [String] = []
        // One deadline for the whole check; servers it left unasked are not visible, named in one entry.
        let deadline = DNSDeadline()
        var late: [String] = []
        for owner in settings.owners {
            let ownerZone = try zone(owner)
            if servers[ownerZone] == nil {
                let found = try publisher.servers(of: ownerZone, deadline: deadline)
                if let leftOut = found.leftOut { progress(Event("\(lineage.name): \(leftOut)")) }
                servers[ownerZone] = found.lookups
            }
            for lookup in servers[ownerZone] ?? [] {
                do {
                    if try !lookup.records(owner).records.contains(record) { missing.append("\(lookup.label) (\(owner) lacks it)") }
                } catch let error as DNSError where error.code == .deadline {
                    late.append(lookup.label)
                } catch {
                    missing.append("\(lookup.label) (\(error))")
                }
            }
        }
        if !late.isEmpty { missing.append(DNSFanOut.leftOut(late.count, "server(s)", names: late, why: "the DNS deadline of \(deadline.limitText) passed")) }
        return missing
    }

    static func duration(_ seconds: Double) -> String {
        let total = max(Int(saturating: seconds.rounded(.up)), 0)
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\((total + 59) / 60) min" }
        return "\(total / 3600) h \((total % 3600 + 59) / 60) min"
    }
}

extension DANEState {
    /// Makes `live` the current record. A current record of another key starts retiring (its
    /// removal due after `holdTime`); a next record of this key becomes current (the renewal used
    /// it). True when something changed.
    public mutating func adopt(live: TLSARecord, now: Date, holdTime: Double) -> Bool {
        if entry(.current)?.record == live { return false }
        if let old = index(.current) {
            entries[old].role = .retiring
            entries[old].removeAfter = now.addingTimeInterval(holdTime)
        }
        if let next = index(.next), entries[next].record == live {
            entries[next].role = .current
        } else if let back = entries.firstIndex(where: { $0.role == .retiring && $0.record == live }) {
            // The live key went back to an older one whose record is still published: keep it.
            entries[back].role = .current
            entries[back].removeAfter = nil
        } else {
            entries.append(Entry(role: .current, record: live))
        }
        return true
    }

    /// Makes `record` the next record (nil: none); a next record of another key is to be removed
    /// now (it was never used). True when something changed.
    public mutating func setNext(_ record: TLSARecord?, now: Date) -> Bool {
        if entry(.next)?.record == record { return false }
        if let stale = index(.next) {
            entries[stale].role = .retiring
            entries[stale].removeAfter = now
            entries[stale].visibleSince = nil
        }
        if let record {
            if let back = entries.firstIndex(where: { $0.role == .retiring && $0.record == record }) {
                entries[back].role = .next
                entries[back].removeAfter = nil
            } else {
                entries.append(Entry(role: .next, record: record))
            }
        }
        return true
    }
}
