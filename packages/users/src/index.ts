/**
 * @since 0.1.0
 */
export * as Ids from "./Ids.js"

/**
 * @since 0.1.0
 */
export * as Schemas from "./Schemas.js"

/**
 * @since 0.1.0
 */
export * as Users from "./Users.js"

/**
 * @since 0.2.0
 */
export * as UserSessions from "./UserSessions.js"

/**
 * @since 0.2.0
 */
export * as WatchCredential from "./WatchCredential.js"
