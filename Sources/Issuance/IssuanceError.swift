import Base

/// The one error type of the Issuance module: one line saying what was wrong and what to do.
public typealias IssuanceError = ModuleError<IssuanceModule>
public enum IssuanceModule {}

extension ErrorCode where Domain == IssuanceError {
    /// A name that is not a DNS name a CA can validate.
    public static var invalidDomain: Self { Self("issuance.invalidDomain", .usage) }
    /// Registration flags that are not a mail address or usable EAB credentials.
    public static var invalidRegistration: Self { Self("issuance.invalidRegistration", .usage) }
    /// A wildcard with a challenge other than DNS-01.
    public static var wildcardNeedsDNS: Self { Self("issuance.wildcardNeedsDNS", .usage) }
    /// The CA has terms of service and --agree-tos was not given.
    public static var termsNotAgreed: Self { Self("issuance.termsNotAgreed", .usage) }
    /// The CA requires External Account Binding and none was given.
    public static var eabRequired: Self { Self("issuance.eabRequired", .usage) }
    /// Profile flags that contradict each other or are not a profile name.
    public static var invalidProfile: Self { Self("issuance.invalidProfile", .usage) }
    /// The required profile is not offered by the CA.
    public static var profileUnavailable: Self { Self("issuance.profileUnavailable", .usage) }
    /// `--key-type` with a comma that is not one ECDSA and one RSA key type.
    public static var invalidKeyTypePair: Self { Self("issuance.invalidKeyTypePair", .usage) }
    /// Only a lineage of the other key family holds these names.
    public static var keyTypeConflict: Self { Self("issuance.keyTypeConflict", .usage) }
    /// No account is stored for the CA where one is needed.
    public static var noAccount: Self { Self("issuance.noAccount", .usage) }
    /// A stored account cannot be loaded.
    public static var unreadableAccount: Self { Self("issuance.unreadableAccount", .localState) }
    /// A lineage's certificate or key cannot be read.
    public static var unreadableLineage: Self { Self("issuance.unreadableLineage", .localState) }
    /// A renewal conf value acme cannot use.
    public static var invalidRenewalConf: Self { Self("issuance.invalidRenewalConf", .localState) }
    /// A key rollover was interrupted and needs a decision.
    public static var interruptedKeyRollover: Self { Self("issuance.interruptedKeyRollover", .localState) }
    /// DANE settings that are missing or contradict each other (`--dane` without a way to publish).
    public static var invalidDANESettings: Self { Self("issuance.invalidDANESettings", .usage) }
    /// The DANE rollover state file (`archive/<name>/.acme-dane.json`) cannot be read or trusted.
    public static var daneState: Self { Self("issuance.daneState", .localState) }
    /// A file acme keeps in a lineage's archive (the next key) is a link: never read through.
    public static var unsafeLineageFile: Self { Self("issuance.unsafeLineageFile", .localState) }
    /// The DANE hook failed to add or remove a TLSA record.
    public static var daneHookFailed: Self { Self("issuance.daneHookFailed", .localState) }
    /// A certificate file or key given for revocation does not fit.
    public static var invalidRevocationInput: Self { Self("issuance.invalidRevocationInput", .usage) }
    /// A new certificate is not valid by this host's clock (the CA's clock or ours is off); the
    /// working one stays and the new one is held (`LineageStore.hold`).
    public static var clockDisagreement: Self { Self("issuance.clockDisagreement", .caRefused) }
    /// The CA returned a certificate that does not match our key.
    public static var certificateMismatch: Self { Self("issuance.certificateMismatch", .caRefused) }
}
