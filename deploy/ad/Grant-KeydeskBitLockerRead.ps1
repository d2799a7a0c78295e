<#
.SYNOPSIS
  Grants keydesk's service account the least it needs to read BitLocker recovery passwords on one
  OU of an Active Directory domain.

.DESCRIPTION
  Adds two inheritable access rules to the OU, applying to descendant msFVE-RecoveryInformation
  objects only:
    - Read Property (all properties) on msFVE-RecoveryInformation objects;
    - Control Access on the confidential attribute msFVE-RecoveryPassword.
  This is the same as the SDDL
    (OA;CIIO;RP;;ea715d30-8f53-40d0-bd1e-6109186d782c;SID)
    (OA;CIIO;CR;43061ac1-c8ad-4ccc-b785-2bfac20fc60a;ea715d30-8f53-40d0-bd1e-6109186d782c;SID)
  that deploy/ad/grant-bitlocker-read-samba.sh sets on Samba (and that keydesk's tests exercise).
  Run it once per OU that holds computers. Do not run it on the domain root: granting these rights
  domain-wide has broken other software in the field, and it widens what the account can read.

.EXAMPLE
  .\Grant-KeydeskBitLockerRead.ps1 -OrganizationalUnit "OU=Laptops,DC=corp,DC=example,DC=com" -ServiceAccount svc-keydesk -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)][string]$OrganizationalUnit,
    [Parameter(Mandatory)][string]$ServiceAccount,
    # Only Read Property: keydesk then reports "not permitted" for passwords instead of "not found".
    [switch]$ObjectOnly
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module ActiveDirectory

$domainDn = (Get-ADDomain).DistinguishedName
if ($OrganizationalUnit -ieq $domainDn) {
    throw "Refusing to delegate on the domain root ($domainDn); name an OU that holds computers."
}

$sid = (Get-ADUser -Identity $ServiceAccount).SID
$recoveryInformation = [Guid]'ea715d30-8f53-40d0-bd1e-6109186d782c'  # class msFVE-RecoveryInformation
$recoveryPassword    = [Guid]'43061ac1-c8ad-4ccc-b785-2bfac20fc60a'  # attribute msFVE-RecoveryPassword
$descendants = [System.DirectoryServices.ActiveDirectorySecurityInheritance]::Descendents

$rules = @(
    New-Object System.DirectoryServices.ActiveDirectoryAccessRule(
        $sid, [System.DirectoryServices.ActiveDirectoryRights]::ReadProperty, 'Allow',
        [Guid]::Empty, $descendants, $recoveryInformation)
)
if (-not $ObjectOnly) {
    # ExtendedRight is CONTROL_ACCESS; on a confidential attribute it grants reading it.
    $rules += New-Object System.DirectoryServices.ActiveDirectoryAccessRule(
        $sid, [System.DirectoryServices.ActiveDirectoryRights]::ExtendedRight, 'Allow',
        $recoveryPassword, $descendants, $recoveryInformation)
}

$path = "AD:\$OrganizationalUnit"
$acl = Get-Acl -Path $path
foreach ($rule in $rules) { $acl.AddAccessRule($rule) }
if ($PSCmdlet.ShouldProcess($OrganizationalUnit, "grant $ServiceAccount read access to BitLocker recovery passwords")) {
    Set-Acl -Path $path -AclObject $acl
    Write-Output "Granted $ServiceAccount ($sid) on $OrganizationalUnit"
}
