--
-- PostgreSQL database dump
--

\restrict kq9Zr2wQmTnV4

-- Dumped from database version 14.12 (Debian 14.12-1.pgdg120+1)
-- Dumped by pg_dump version 14.12 (Debian 14.12-1.pgdg120+1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Artists; Type: TABLE; Schema: public; Owner: root
--

CREATE TABLE public."Artists" (
    "ArtistID" integer NOT NULL,
    "FullName" text NOT NULL,
    "Country" character varying(40),
    born integer
);


ALTER TABLE public."Artists" OWNER TO root;

--
-- Data for Name: Artists; Type: TABLE DATA; Schema: public; Owner: root
--

COPY public."Artists" ("ArtistID", "FullName", "Country", born) FROM stdin;
1	Mariana Okafor	Nigeria	1971
2	Lars Ekholm	Sweden	1958
3	Chen Wei	China	1980
4	Ana Souza	Brazil	1965
5	Tomás O'Reilly	Ireland	\N
\.


--
-- Name: Artists Artists_pkey; Type: CONSTRAINT; Schema: public; Owner: root
--

ALTER TABLE ONLY public."Artists"
    ADD CONSTRAINT "Artists_pkey" PRIMARY KEY ("ArtistID");


--
-- PostgreSQL database dump complete
--

\unrestrict kq9Zr2wQmTnV4

