export { installSkills, skillError, CODEX_SYSTEM_SKILLS, SKILL_DOWNLOAD_TIMEOUT_MS, SKILL_LOOKUP_TIMEOUT_MS } from './skills';
export type { InstallSkillsOptions, SkillFailure, SkillInstallResult } from './skills';
export { downloadAttachments, imageInputs, ATTACHMENT_TIMEOUT_MS, DEFAULT_ATTACHMENT_MAX_BYTES } from './attachments';
export type { AttachmentDownloads, AttachmentFailure, DownloadAttachmentsOptions } from './attachments';
export { DEFAULT_ZIP_LIMITS, invalidSkillName } from './skill-zip';
export type { ZipLimits } from './skill-zip';
export type { DownloadLogger } from './backend-http';
