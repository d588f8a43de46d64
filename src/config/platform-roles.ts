/** The seven platform roles, in canonical spelling (CONTRACT.md §2, §5). */
export const PLATFORM_ROLES = ['Admin', 'Configurator', 'Manager', 'Employee', 'Customer', 'CreditEvaluator', 'System'] as const
export type PlatformRole = typeof PLATFORM_ROLES[number]
