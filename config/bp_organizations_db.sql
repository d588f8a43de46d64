-- bp_organizations_db: the bank mappings the gateway reads (CONTRACT.md §4). The gateway only
-- SELECTs; grant it nothing more: GRANT SELECT ON bp_organizations_db.* TO 'bookme_gw'@'%';
CREATE TABLE Banks (BankId VARCHAR(64) PRIMARY KEY, Name VARCHAR(200) NOT NULL,
  Enabled TINYINT(1) NOT NULL DEFAULT 1);
CREATE TABLE TenantBanks (TenantId CHAR(36) NOT NULL, BankId VARCHAR(64) NOT NULL,
  IsDefault TINYINT(1) NOT NULL DEFAULT 0, PRIMARY KEY (TenantId, BankId));
CREATE TABLE BankClients (ClientId CHAR(36) PRIMARY KEY, BankId VARCHAR(64) NOT NULL,
  Description VARCHAR(200) NULL, SecretExpiresAt DATETIME NULL,
  Enabled TINYINT(1) NOT NULL DEFAULT 1);
