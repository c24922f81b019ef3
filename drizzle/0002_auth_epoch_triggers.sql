-- Custom SQL migration file, put your code below! --
INSERT INTO `auth_epoch` (`id`, `epoch`) VALUES (1, 0);
--> statement-breakpoint
CREATE TRIGGER `auth_epoch_key_revoked` AFTER UPDATE OF `revoked_at` ON `api_keys` BEGIN UPDATE `auth_epoch` SET `epoch` = `epoch` + 1; END;
--> statement-breakpoint
CREATE TRIGGER `auth_epoch_key_deleted` AFTER DELETE ON `api_keys` BEGIN UPDATE `auth_epoch` SET `epoch` = `epoch` + 1; END;
--> statement-breakpoint
CREATE TRIGGER `auth_epoch_organization_updated` AFTER UPDATE ON `organizations` BEGIN UPDATE `auth_epoch` SET `epoch` = `epoch` + 1; END;
--> statement-breakpoint
CREATE TRIGGER `auth_epoch_organization_deleted` AFTER DELETE ON `organizations` BEGIN UPDATE `auth_epoch` SET `epoch` = `epoch` + 1; END;
