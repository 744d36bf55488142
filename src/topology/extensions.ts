/**
 * PHP extensions by the Debian package that provides them (Debian 12 bookworm and 13 trixie use
 * the same names: the `php-*` packages of php-defaults depend on the PHP version's own ones).
 *
 * - `core`: compiled into PHP itself; always there, nothing to install or load.
 * - `php-common`: shared objects that come with mod_php (phpX.Y-common, and the OPcache and
 *   readline packages libapache2-mod-phpX.Y depends on); Debian enables them in every SAPI's conf.d.
 * - any other value: the package to install; its postinst enables the extension in conf.d.
 */
export const EXTENSION_PACKAGES: Readonly<Record<string, string>> = {
  // compiled in
  core: "core",
  date: "core",
  filter: "core",
  hash: "core",
  json: "core",
  libxml: "core",
  openssl: "core",
  pcntl: "core",
  pcre: "core",
  random: "core",
  reflection: "core",
  session: "core",
  sodium: "core",
  spl: "core",
  standard: "core",
  zlib: "core",
  // phpX.Y-common
  calendar: "php-common",
  ctype: "php-common",
  exif: "php-common",
  ffi: "php-common",
  fileinfo: "php-common",
  ftp: "php-common",
  gettext: "php-common",
  iconv: "php-common",
  pdo: "php-common",
  phar: "php-common",
  posix: "php-common",
  shmop: "php-common",
  sockets: "php-common",
  sysvmsg: "php-common",
  sysvsem: "php-common",
  sysvshm: "php-common",
  tokenizer: "php-common",
  opcache: "php-common",
  readline: "php-common",
  // their own packages
  igbinary: "php-igbinary",
  msgpack: "php-msgpack",
  memcached: "php-memcached",
  memcache: "php-memcache",
  apcu: "php-apcu",
  ast: "php-ast",
  bcmath: "php-bcmath",
  bz2: "php-bz2",
  curl: "php-curl",
  dba: "php-dba",
  dom: "php-xml",
  enchant: "php-enchant",
  gd: "php-gd",
  gmp: "php-gmp",
  gnupg: "php-gnupg",
  imagick: "php-imagick",
  imap: "php-imap",
  intl: "php-intl",
  ldap: "php-ldap",
  mailparse: "php-mailparse",
  mbstring: "php-mbstring",
  mongodb: "php-mongodb",
  mysqli: "php-mysql",
  mysqlnd: "php-mysql",
  odbc: "php-odbc",
  pdo_dblib: "php-sybase",
  pdo_firebird: "php-interbase",
  pdo_mysql: "php-mysql",
  pdo_odbc: "php-odbc",
  pdo_pgsql: "php-pgsql",
  pdo_sqlite: "php-sqlite3",
  pcov: "php-pcov",
  pgsql: "php-pgsql",
  pspell: "php-pspell",
  redis: "php-redis",
  simplexml: "php-xml",
  snmp: "php-snmp",
  soap: "php-soap",
  sqlite3: "php-sqlite3",
  ssh2: "php-ssh2",
  tidy: "php-tidy",
  uuid: "php-uuid",
  xdebug: "php-xdebug",
  xml: "php-xml",
  xmlreader: "php-xml",
  xmlwriter: "php-xml",
  xsl: "php-xml",
  yaml: "php-yaml",
  zip: "php-zip",
  zmq: "php-zmq",
};

/** Extensions PHP loads with `zend_extension=` (and lists among the Zend extensions). */
export const ZEND_EXTENSIONS: ReadonlySet<string> = new Set(["opcache", "xdebug"]);

/** What every app node needs: the session handler and the serializers its build links. */
export const REQUIRED_EXTENSIONS = ["igbinary", "msgpack", "memcached"] as const;

/** The Debian package an extension needs installed (undefined: it is part of PHP or php-common). */
export function extensionPackage(name: string): string | undefined {
  const pkg = EXTENSION_PACKAGES[name.toLowerCase()];
  return pkg === undefined || pkg === "core" || pkg === "php-common" ? undefined : pkg;
}

export function isKnownExtension(name: string): boolean {
  return name.toLowerCase() in EXTENSION_PACKAGES;
}

/** The name PHP gives an extension in get_loaded_extensions(): opcache is "Zend OPcache". */
export function loadedName(name: string): string {
  return name.toLowerCase() === "opcache" ? "zend opcache" : name.toLowerCase();
}
